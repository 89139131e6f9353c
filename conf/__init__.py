"""Configuration: ``schema`` (typed sections, ConfigError), ``load`` (load_config),
``patterns`` (route dial patterns); ``reader`` and ``xref`` are the validator's parts."""

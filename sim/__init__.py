"""Simulation harness: scenario files, a message-level simulator on the real actor host, KPIs.

``contactor simulate SCENARIO`` (see :mod:`cli.commands_simulate`) is the entry point;
:func:`sim.runner.simulate` the library one.
"""

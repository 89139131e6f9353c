"""IVR: schemes a technologist writes in YAML, and a pure interpreter a call actor drives.

Parts
    ``loader.load_scheme``       YAML file -> validated ``scheme.Scheme`` (or ``SchemeError``
                                 listing every problem as ``file:line: node 'x': field: ...``)
    ``interpreter.start/step``   pure: (scheme, state, event, now) -> (state, actions)
    ``messages``                 the events, actions and ``IvrState`` (bus records)
    ``registry.SchemeRegistry``  schemes by name and version; reload keeps the working one
    ``watch.SchemeWatcher``      polls file mtimes and reloads changed schemes
    ``center``                   ``load_center_schemes(config, prompt_exists)``, ``sound_library``
    ``debug_log.DebugLog``       ``<root>/<scheme>/debug_<timestamp>-<callid>.log`` writer
    ``http_client``              performs ``HttpRequest`` actions (asyncio, stdlib)
    ``draw``                     Graphviz diagram of a scheme (``contactor ivr draw``)

How a call actor drives it
--------------------------
At start-up (telephony service)::

    registry = load_center_schemes(config, sound_library(sounds_dir))
    watcher = SchemeWatcher(registry)          # poll(now) every second or so

When a route sends a call to ``ivr:<name>``::

    state, actions = registry.start_call(name, {"caller": ani, "dialled": dnis,
                                                "call_id": call_id}, now)
    log = DebugLog(log_root, name, call_id, now)

Keep ``state`` in the call actor's own state (it is a bus record: it goes into the snapshot
as is, so a restarted actor resumes the caller at the same node). For every event::

    scheme = registry.scheme_for(state)        # the version the call started on
    state, actions = step(scheme, state, event, now)

and perform ``actions`` in order (``log.write(now, actions)`` writes the ``Log`` ones):

    ========================  =====================================================
    action                    call actor effect
    ========================  =====================================================
    Play(prompt, barge_in)    media ``Play`` on the caller's endpoint; ``tts:`` text
                              is spoken, anything else is a sound-library name
    StopPlay                  media ``StopPlay``
    StartTimer(key, after_s)  host timer delivering ``Timeout(key=key)``
    CancelTimer(key)          cancel that host timer
    HttpRequest               ``HttpExecutor.submit`` -> HttpResult / HttpFailed
    Enqueue                   hand the call to ``queue/<queue>``       } the IVR is
    TransferAgent/External    connect the agent / dial out             } done:
    RecordVoicemail           media records the caller, then hang up   } ``state.phase
    Hangup                    hang up                                  } == "done"``
    OfferCallback             register a callback; the scheme goes on
    Log                       ``DebugLog.write``
    ========================  =====================================================

Events it feeds back: media ``DtmfDetected`` -> ``Digit(digit=...)``; media ``PlayDone``
-> ``PlayDone(prompt=...)`` (the prompt lets the interpreter ignore the end of a prompt it
stopped); the host timer -> ``Timeout(key=...)``; the executor's ``HttpResult`` /
``HttpFailed``; the caller's BYE -> ``CallerHangup()``. When ``state.phase == "done"``
(``state.outcome`` says why) call ``registry.release(state.scheme, state.version)`` and close
the debug log; ``state.vars`` holds what the caller entered and the CRM answered.
"""

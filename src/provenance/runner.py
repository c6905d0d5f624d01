"""Runs a probe set against one endpoint: concurrent (bounded), deadline per target.

CONTRACT (implemented by the transport work):

    async def run_probes(endpoint, probeset, *, settings, probes=None,
                         on_result=None, existing=None) -> Transcript

* ``endpoint``: an ``endpoints.base.Endpoint`` (see there).
* ``probes``: the subset of ``probeset.probes`` to run (default all), in order.
* ``on_result(result: ProbeResult)``: called (sync) once per finished probe, as
  soon as it finishes -- the run store commits it right there.
* ``existing``: ProbeResults already recorded (resume): those probes are not sent again.
* Concurrency bounded by ``settings.concurrency``; the whole call finishes within
  ``settings.deadline`` seconds: probes still pending then are recorded as
  failed with reason "deadline".
* Never raises for endpoint faults: each failed probe is a ProbeResult with
  status "failed" and its reason.

    def run_probes_sync(...) -> Transcript   # asyncio.run wrapper
"""

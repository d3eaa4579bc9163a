"""Qt-free generators, one module or package per modality.

An engine is a callable ``run(request, report, cancel) -> Artifact``; the
registry in :mod:`studio.engines.registry` maps each request kind to the module
that runs it, so heavy imports happen only when a job of that kind runs."""

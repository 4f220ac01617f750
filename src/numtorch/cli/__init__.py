"""The ``numtorch`` command line: ``numtorch train``, ``eval``, ``predict``, ``plot``, ``gradcheck``,
``lr-search`` (see ``numtorch.cli.main``)."""

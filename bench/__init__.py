"""gort's benchmark suite: pyperf scripts in ``bench/suites``, a driver that runs
them on every interpreter build, and a report generator.  ``python -m bench``."""

# The suites (``bench/suites/bm_<name>.py``), in the order they run and are reported.
SUITES = ("spawn", "switch", "channels", "select", "sync", "scaling", "patterns", "scale", "io")

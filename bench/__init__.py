"""gort's benchmark suite: pyperf scripts in ``bench/suites``, a driver that runs
them on every interpreter build, and a report generator.  ``python -m bench``."""

"""Python helpers shared by make demo, make bench and the fuzz tooling:
vm (QEMU processes, QMP, migrations, trace parsing) and wire (the stream
format of iterative device migration).  The Makefile puts pylib/ on
PYTHONPATH."""

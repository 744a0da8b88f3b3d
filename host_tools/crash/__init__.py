"""Power-cut testing: the campaign engine behind `ovl crashtest`, its
oracle model of the merged tree, its workloads, and the rig that cuts a
real board's power over serial (docs/CRASHTEST.md, docs/SERIAL.md)."""

"""Code the four PUMA 2024 challenges share (one release, one preparation, two graders); each
task's folder (``puma-track1-task1`` ... ``puma-track2-task2``) names its task and re-exports these."""

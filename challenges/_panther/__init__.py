"""Code the two PANTHER challenges share (one release layout, one grader); each task's folder
(``panther-task1``, ``panther-task2``) names its task and re-exports these."""

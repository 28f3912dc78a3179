"""What makes the transforms correct on every runner.

Beam lets a runner skip parts of its model, and runners do (the Dask runner
most of all). ``capabilities`` says what a pipeline's runner does; the rest
are the shapes the transforms take where a capability is missing:

- ``distribute``: one element per segment or file, spread without ``Reshuffle``.
- ``tagged_outputs``: single-output steps where tagged outputs are mixed up.
- ``group_batches``: batches made by a ``GroupByKey``, not in ``finish_bundle``.
- ``tally``: counts made in the pipeline where the runner reports no metrics.
- ``local_workers``: the local engine's worker processes keep what a
  self-checkpoint leaves to read (Beam 2.77 drops it there), and start with
  ``worker_main``, Beam's worker without the two lines it logs before it has
  read its options.
- ``cluster_watch``: a wait for a job on a Dask cluster that says when the
  cluster has no workers (dask waits for one, silently).
- ``process_exit``: the command line's process and Beam's SDK worker
  processes end without the interpreter's last garbage collection.
- ``temp_folder``: what Beam leaves in the temporary folder goes with the
  command's own temporary folder.
"""

"""course — the machinery that runs the lessons of :mod:`helpers`: run folders, parameters, the course command.

Nothing here is taught; every module's docstring gives its role. Notebooks import the lesson from
``helpers`` and this machinery from ``course``.

=========================  =========================================================================
module                     role
=========================  =========================================================================
``course.files``           every run-folder file name, the notebooks in order, who writes what
``course.paths``           locating the repository, the data and the runs; reading and writing JSON
``course.config``          ``config.json``: one typed section per stage; the run folder's errors
``course.run_folder``      the run folder: opened once per notebook, ``save_*``/``load_*`` per stage
``course.parameters``      every parameter of the course, declared once
``course.outcomes``        learning outcomes: recorded, and warned about when they do not hold
``course.runner``          ``python -m helpers run``: every notebook in order, with papermill
``course.cli``             the command line (``python -m helpers`` / ``python -m course``)
``course.captioner``       ``python -m helpers caption``: captions for your own photos
``course.trained_run``     loading a trained run folder, and checking its files belong together
``course.download``        the Flickr8k download (its files, the mirror, the completion marker)
``course.transfer``        fetching one file: resumable, checksum-verified, free space checked
``course.safe_zip``        extracting an archive safely
``course.feature_cache``   notebook 03's sharded, resumable feature cache
``course.spatial_cache``   notebook 10's cache of feature maps
``course.judgement_files`` Flickr8k's human judgements on disk: finding, reading, writing results
``course.overview``        notebook 00's course map, timings and setup check
``course.quiet``           no TensorFlow log walls in notebooks and commands
``course.memory``          peak memory while something runs; handing freed memory back
``course.checks_00``        notebook 00's exercise check: a plan of notebooks against the course map
``course.checks_01``        notebook 01's exercise check: cleaning with hyphens as word separators
``course.checks_06``        notebook 06's exercise check: one training step against Keras' own
``course.checks_07``        notebook 07's exercise check: a whole beam search against the helper's
``course.checks_09``        notebook 09's exercise check: a metric of the student's own, beside BLEU-1
``course.checks_10``        notebook 10's exercise checks: one decoder step against the helper's layer; the box ratio
``course.checks_11``        notebook 11's exercise check: one decoder block against the model's own
=========================  =========================================================================
"""

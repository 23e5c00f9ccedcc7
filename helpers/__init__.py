"""helpers — the tested logic behind the image-captioning course.

One module per stage of the pipeline, in the order the notebooks teach them:

=========================  ==============================================
module                     taught in
=========================  ==============================================
``helpers.paths``          (plumbing) where the data and the runs live
``helpers.run``            (plumbing) the run folder: file names, config.json, save/load per stage
``helpers.parameters``     (plumbing) every parameter of the course, declared once
``helpers.quiet``          (plumbing) no TensorFlow log lines in the notebooks' outputs
``helpers.overview``       notebooks/00_start_here.ipynb (the course map, a setup check)
``helpers.text``           notebooks/01_text_cleaning.ipynb
``helpers.datasets``       notebooks/01_text_cleaning.ipynb (loading, splits)
``helpers.formats``        notebooks/01_text_cleaning.ipynb (caption-file readers)
``helpers.download``       notebooks/01_text_cleaning.ipynb (the real Flickr8k)
``helpers.vocabulary``     notebooks/02_lookup_table.ipynb
``helpers.images``         notebooks/03_feature_extraction.ipynb (reading images, bad-image checks)
``helpers.features``       notebooks/03_feature_extraction.ipynb (gathers the four below)
``helpers.encoders``       notebooks/03_feature_extraction.ipynb (the CNNs, WEIGHTS)
``helpers.extraction``     notebooks/03_feature_extraction.ipynb (the tf.data pipeline)
``helpers.feature_cache``  notebooks/03_feature_extraction.ipynb (the cache, features.npz)
``helpers.encoder_demos``  notebooks/03_feature_extraction.ipynb (demos; reads ../shared)
``helpers.embeddings``     notebooks/04_word_embeddings.ipynb
``helpers.model``          notebooks/05_merge_lstm_model.ipynb
``helpers.training``       notebooks/06_training.ipynb
``helpers.decoding``       notebooks/07_caption_generation.ipynb
``helpers.captioner``      notebooks/07_caption_generation.ipynb (``python -m helpers caption``)
``helpers.evaluation``     notebooks/08_evaluation_and_visualization.ipynb
``helpers.visualization``  notebooks/06 (loss curves) and 08 (pictures of captions)
``helpers.judgements``     notebooks/09_metrics_vs_humans.ipynb
``helpers.attention``      notebooks/10_visual_attention.ipynb (spatial features, the attention decoder)
``helpers.course``         ``python -m helpers run`` (runs every notebook)
``helpers.cli``            ``python -m helpers run`` and ``python -m helpers caption``
=========================  ==============================================

Importing ``helpers`` has no side effects: no seeding, no downloads and no
TensorFlow import (modules that need TensorFlow import it themselves).
"""

__version__ = "2026.1"  # = pyproject.toml version (a test checks); releases: CHANGELOG.md

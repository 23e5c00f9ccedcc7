"""helpers — what the image-captioning course teaches, one module per idea, in the order of the notebooks.

The machinery that runs the lessons (the run folder, parameters, the course command, downloads, caches)
is the other package, :mod:`course`. Every module here names the notebook that teaches it.

================================  ==================================================================
module                            taught in
================================  ==================================================================
``helpers.text``                  01_text_cleaning (cleaning) and 02_lookup_table (start/stop tokens)
``helpers.datasets``              01_text_cleaning (loading any caption format, splits)
``helpers.formats``               01_text_cleaning (the caption-file readers behind ``datasets``)
``helpers.vocabulary``            02_lookup_table
``helpers.images``                03_feature_extraction (reading images, bad-image checks)
``helpers.encoders``              03_feature_extraction (the CNNs, ``WEIGHTS``)
``helpers.extraction``            03_feature_extraction (the ``tf.data`` pipeline, the forward pass)
``helpers.feature_table``         03_feature_extraction (``features.npz``, nearest neighbours)
``helpers.features``              03_feature_extraction (gathers the three above and the demos)
``helpers.encoder_demos``         03_feature_extraction (encoder timings, ImageNet labels)
``helpers.embeddings``            04_word_embeddings
``helpers.model``                 05_merge_lstm_model
``helpers.training``              06_training
``helpers.decoding``              07_caption_generation (greedy, beam search, sampling)
``helpers.next_word``             07_caption_generation (the step: the model's next-word probabilities)
``helpers.evaluation``            08_evaluation_and_visualization (BLEU, METEOR, CIDEr-D, baselines)
``helpers.visualization``         08_evaluation_and_visualization (and 06's loss curves)
``helpers.judgements``            09_metrics_vs_humans (the metrics per caption, agreement with people)
``helpers.spatial_features``      10_visual_attention (the CNN's grid, kept)
``helpers.attention``             10_visual_attention (the attention layers, model and decoding)
``helpers.attention_maps``        10_visual_attention (where the model looks, the sample's boxes)
``helpers.attention_comparison``  10_visual_attention (merge vs inject vs attention)
``helpers.transformer``           11_transformer_decoder (attention written out, the decoder, cross-attention maps)
================================  ==================================================================

Importing ``helpers`` has no side effects: no seeding, no downloads and no TensorFlow import (modules that
need TensorFlow import it themselves). ``python -m helpers run|caption`` is :mod:`course.cli`.
"""

__version__ = "2026.1"  # = pyproject.toml version (a test checks); releases: CHANGELOG.md

"""Every file name in a run folder, the notebooks in order, and which notebook writes what.

Role: the one place that spells a run-folder file name (the course machinery and the lesson's
``save``/``train`` functions import them from here). Imports nothing.
"""

# --- file names inside a run folder: one spelling, here only -----------------------------------------------
CLEAN_CAPTIONS_FILE = "captions_clean.json"  # 01
LOOKUP_TABLE_FILE = "lookup_table.json"  # 02
VOCABULARY_FILE = "vocabulary.json"  # 02
FEATURES_FILE = "features.npz"  # 03
SKIPPED_IMAGES_FILE = "skipped_images.json"  # 03: image id -> why it has no features
WORD_VECTORS_FILE = "word_vectors.txt"  # 04 (word2vec text format)
EMBEDDING_MATRIX_FILE = "embedding_matrix.npy"  # 04
WORD_MAP_FILE = "word_map.png"  # 04
UNTRAINED_MODEL_FILE = "model_untrained.keras"  # 05
MODEL_DIAGRAM_FILE = "model.png"  # 05
MODEL_FILE = "model.keras"  # 06
HISTORY_FILE = "history.json"  # 06
LOSS_CURVE_FILE = "loss_curves.png"  # 06
TRAINING_BACKUP_DIR = "training_backup"  # 06: resuming an interrupted training
PREFIX_PAIR_BASELINE_DIR = "prefix_pair_baseline"  # 06: the slow comparison's own files
GENERATED_CAPTIONS_FILE = "generated_captions.json"  # 07: {image_id: caption}
BEAM_CAPTIONS_FILE = "beam_captions.json"  # 07: {"width", "alpha", "captions": {image_id: caption}}
SCORES_FILE = "scores.json"  # 08
RETRIEVAL_CAPTIONS_FILE = "retrieval_captions.json"  # 08: {image_id: consensus caption of its nearest training images}
CAPTION_GRID_FILE = "caption_grid.png"  # 08
BEST_AND_WORST_FILE = "best_and_worst.png"  # 08
WORD_USAGE_FILE = "word_usage.png"  # 08
CAPTION_LENGTHS_FILE = "caption_lengths.png"  # 08
JUDGEMENT_SCORES_FILE = "judgement_scores.csv"  # 09: one row per judged pair
AGREEMENT_FILE = "metric_agreement.json"  # 09: rank correlations
SPATIAL_FEATURES_FILE = "spatial_features.npz"  # 10: the CNN's last feature map of every image (float16 when it fits)
ATTENTION_DIR = "attention"  # 10: the attention model, its captions and the comparison
ATTENTION_CAPTIONS_FILE = "captions.json"  # 10, inside ATTENTION_DIR: {"greedy": {...}, "beam": {...}}
ATTENTION_COMPARISON_FILE = "comparison.json"  # 10, inside ATTENTION_DIR: the merge / inject / attention table
TRANSFORMER_DIR = (
    "transformer"  # 11: the Transformer decoder (model.keras, history.json), its captions and the comparison
)
TRANSFORMER_CAPTIONS_FILE = "captions.json"  # 11, inside TRANSFORMER_DIR: {"greedy": {...}, "beam": {...}}
MODEL_COMPARISON_FILE = "model_comparison.json"  # 11, inside TRANSFORMER_DIR: merge / inject / attention / transformer
CROSS_ATTENTION_FILE = "cross_attention.png"  # 11, inside TRANSFORMER_DIR: one test image's cross-attention per word
CONFIG_FILE = "config.json"  # every notebook adds its section
EXECUTED_NOTEBOOKS_DIR = "notebooks"  # python -m helpers run: the executed notebooks

NOTEBOOKS = [
    "00_start_here.ipynb",
    "01_text_cleaning.ipynb",
    "02_lookup_table.ipynb",
    "03_feature_extraction.ipynb",
    "04_word_embeddings.ipynb",
    "05_merge_lstm_model.ipynb",
    "06_training.ipynb",
    "06b_training_speed.ipynb",  # an appendix: nothing reads it (--skip 06b leaves it out)
    "07_caption_generation.ipynb",
    "08_evaluation_and_visualization.ipynb",
    "09_metrics_vs_humans.ipynb",
    "10_visual_attention.ipynb",
    "11_transformer_decoder.ipynb",
]

#: The notebook that writes each file (and each config.json section).
MADE_BY = {
    CLEAN_CAPTIONS_FILE: "01_text_cleaning.ipynb",
    "data": "01_text_cleaning.ipynb",
    LOOKUP_TABLE_FILE: "02_lookup_table.ipynb",
    VOCABULARY_FILE: "02_lookup_table.ipynb",
    "text": "02_lookup_table.ipynb",
    FEATURES_FILE: "03_feature_extraction.ipynb",
    SKIPPED_IMAGES_FILE: "03_feature_extraction.ipynb",
    "features": "03_feature_extraction.ipynb",
    WORD_VECTORS_FILE: "04_word_embeddings.ipynb",
    EMBEDDING_MATRIX_FILE: "04_word_embeddings.ipynb",
    "embeddings": "04_word_embeddings.ipynb",
    UNTRAINED_MODEL_FILE: "05_merge_lstm_model.ipynb",
    "model": "05_merge_lstm_model.ipynb",
    MODEL_FILE: "06_training.ipynb",
    HISTORY_FILE: "06_training.ipynb",
    LOSS_CURVE_FILE: "06_training.ipynb",
    "training": "06_training.ipynb",
    GENERATED_CAPTIONS_FILE: "07_caption_generation.ipynb",
    BEAM_CAPTIONS_FILE: "07_caption_generation.ipynb",
    SCORES_FILE: "08_evaluation_and_visualization.ipynb",
    RETRIEVAL_CAPTIONS_FILE: "08_evaluation_and_visualization.ipynb",
    "decoding": "07_caption_generation.ipynb",
    CAPTION_GRID_FILE: "08_evaluation_and_visualization.ipynb",
    "scores": "08_evaluation_and_visualization.ipynb",
    JUDGEMENT_SCORES_FILE: "09_metrics_vs_humans.ipynb",
    AGREEMENT_FILE: "09_metrics_vs_humans.ipynb",
    SPATIAL_FEATURES_FILE: "10_visual_attention.ipynb",
    ATTENTION_DIR: "10_visual_attention.ipynb",
    "attention": "10_visual_attention.ipynb",
    TRANSFORMER_DIR: "11_transformer_decoder.ipynb",
}

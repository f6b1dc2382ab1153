"""What CATALOG.md says each file of shared/corpus is, written out once for the corpus tests.

Every file of the catalog's sha256 list is in exactly one table (checked by
tests/test_corpus.py::test_every_catalog_file_has_a_case), so a file the tests drop, or a new file
nobody classified, fails instead of going unnoticed.
"""

from __future__ import annotations

K1 = "dl4j-test-resources/keras1/"
K2 = "dl4j-test-resources/keras2/"

# Model file -> (weights file or None, expectation): "convert", "convert-or-fail:<layer class>"
# or "fail:<text the error must contain>".
CASES: dict[str, tuple[str | None, str]] = {
    K1 + "conv2d_tensorflow_1.h5": (None, "convert"),
    K1 + "lstm_theano_1.h5": (None, "convert"),
    K1 + "embedding_conv1d_flatten_tensorflow_1.h5": (None, "convert"),
    K1 + "space_to_depth_simple_tensorflow_1.h5": (None, "fail:Lambda"),
    K1 + "simple_lstm_th_keras_1_model.h5": (None, "convert"),
    K1 + "simple_lstm_th_keras_1_config.json": (K1 + "simple_lstm_th_keras_1_weights.h5", "convert"),
    K2 + "conv2d_theano_2.h5": (None, "convert"),
    K2 + "model_lambda.h5": (None, "fail:Lambda"),
    K2 + "masking_zero_lstm.h5": (None, "convert-or-fail:Masking"),
    K2 + "wgan_discriminator.h5": (None, "convert"),
    K2 + "reshape_model.h5": (None, "convert"),
    K2 + "causal_conv1d_k3_s1_d2_cl_model.h5": (None, "convert"),
    K2 + "simple_rnn_tf_keras_2_model.h5": (None, "convert"),
    K2 + "simple_rnn_tf_keras_2_config.json": (K2 + "simple_rnn_tf_keras_2_weights.h5", "convert"),
    K2 + "sepconv2d_tensorflow_2.h5": (None, "convert"),
    K2 + "bidirectional_lstm_tensorflow_2.h5": (None, "convert"),
    K2 + "flatten_3d.hdf5": (None, "convert"),
    K2 + "cnn2d_100.h5": (None, "convert"),
    K2 + "tfop_0.h5": (None, "fail:TensorFlowOpLayer"),
    K2 + "cnn_batch_norm.h5": (None, "convert"),
    "github-keras3/ner_lstm_model.keras": (None, "convert"),
    "keras2cpp/my_nn_arch.json": ("keras2cpp/my_nn_weights.h5", "convert"),
}
CONVERTIBLE = sorted(rel for rel, (_, expect) in CASES.items() if expect.startswith("convert"))

# Convertible files whose value oracle lives in another test (with where).
ORACLE_ELSEWHERE: dict[str, str] = {
    "keras2cpp/my_nn_arch.json": "keras2cpp's C++ port, Keras' printed output and a NumPy model on sample_mnist.dat "
                                 "(tests/convert/keras/test_backend.py::test_keras2cpp_matches_its_reference_by_the_rule)",
}

# Files that are not models: given as MODEL they must be refused with what was found.
NOT_MODELS: dict[str, str] = {
    K1 + "simple_lstm_th_keras_1_weights.h5": "weights-only",
    K2 + "simple_rnn_tf_keras_2_weights.h5": "weights-only",
    "keras2cpp/my_nn_weights.h5": "weights-only",
    K1 + "simple_lstm_th_keras_1_inputs_and_outputs.h5": "reference",
    K2 + "cnn_batch_norm_input.npy": ".npy",
    "tflite-micro/person_detect.tflite": "TFLite",
    K2 + "simple_rnn_tf_keras_2_config.json": "architecture only",
}

# The remaining catalog files, and the tests that use them.
OTHER_FILES: dict[str, str] = {
    K2 + "simple_rnn_tf_keras_2_inputs_and_outputs.h5": "reference data (tests/corpus_oracles.py)",
    K2 + "causal_conv1d_k3_s1_d2_cl_inputs_and_outputs.h5": "reference data (tests/corpus_oracles.py)",
    K2 + "cnn_batch_norm_predictions.npy": "reference data (tests/corpus_oracles.py)",
    "keras2cpp/sample_mnist.dat": "keras2cpp's test input",
    "tflite-micro/hello_world_int8.tflite": "tests/runtime/schema",
    "tflite-micro/hello_world_float.tflite": "tests/runtime/schema, tests/runtime",
}

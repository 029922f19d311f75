"""Evasion attacks on a release's classifier: the gate's one exception to "never execute model content".

The parent process (`gate.robustness.sandbox`) proves that the bytes it is about to run are the
bytes the inventory hashed and the model-files check judged, stages them outside the release,
and starts a child (`gate.robustness.child`) with CPU, memory, time and file-size limits, no
network and a scrubbed environment. The child runs the ONNX graph with onnxruntime (no custom
operator libraries, CPU only) and attacks it with the Adversarial Robustness Toolbox; gradients
come from `gate.robustness.torch_graph`, a translation of a fixed, allowlisted set of standard
operators into torch. The parent judges what the child reports (`gate.checks.classifier_robustness`).
"""

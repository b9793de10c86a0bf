"""Hidden checks of the `sgd_mnist` assignment (one module per exercise; see docs/engine-api.md).

`EXERCISES` gives the order in which exercises appear in reports (the lesson's order)."""

EXERCISES = ("normalize", "binary_loss", "categorical_cross_entropy", "softmax", "log_softmax", "matmul",
             "LogReg", "fit", "sgd_step", "accuracy")

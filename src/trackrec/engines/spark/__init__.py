"""The trackrec pipeline on Apache Spark (PySpark, MLlib): ``--engine spark``.

Install with ``pip install 'trackrec[spark]'`` (PySpark; Java 17+). Modules, in data-flow order:

=================  ===========================================================================
module             what it does
=================  ===========================================================================
``session``        settings (CLI options, config file), the SparkSession, scratch space and
                   free-disk check, JVM errors -> one-line trackrec errors
``io``             sessions and catalogue from CSV/Parquet at any Spark path, string ids with
                   an explicit schema, the local loaders' timestamp and bad-row rules
``prepare``        dense ids, positives, per-user time split, user histories, training pairs
                   (leave-one-out profiles, seeded negatives never from played tracks)
``fit``            MLlib LogisticRegression (``affinity-lr``), MLlib ALS (``ials``), ranking
                   evaluation over the full catalogue in blocks of users
``pipeline``       train -> evaluate -> refit, ending in trackrec's own :class:`ModelBundle`
``batch``          batch top-k for every user of a saved model (Parquet folder); evaluation of
                   a saved model on newer listens
``memory``         :func:`estimate_local_memory`: will the local engine fit in RAM?
``cli_bridge``     ``spark_settings`` / ``run`` called by ``trackrec ... --engine spark``
=================  ===========================================================================

Only ``memory`` imports without PySpark; import the others explicitly.
"""

from .memory import estimate_local_memory

__all__ = ["estimate_local_memory"]

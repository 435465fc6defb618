"""The Spark session xinyi runs on (Spark 引擎): local mode on this machine, or a cluster's master.

pyspark is an optional dependency (``pip install 'xinyi[spark]'``; Java 17 or newer must be on the
PATH or in ``JAVA_HOME``). Everything that runs on Spark gets its session from :func:`spark_session`,
so every job has the same settings:

* ``XINYI_SPARK_MASTER`` (default ``local[N]``, N = ``XINYI_THREADS`` or every core) and
  ``XINYI_SPARK_MEMORY`` (driver memory, default ``4g``); in local mode the driver is the executor;
* dates are computed in UTC and ANSI SQL semantics are on (an overflow is an error, never a wrap);
* Python workers run this interpreter (a worker started with another Python would miss pyarrow);
* in local mode the driver binds to loopback (127.0.0.1) only;
* the web UI is off and Spark's own logging is kept to errors (a job's progress is xinyi's to say);
* shuffles use ``spark.sql.shuffle.partitions`` = 2 x the cores unless set: the default of 200
  partitions costs more than it brings on a small machine.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import warnings
from typing import TYPE_CHECKING, Any

from scoring.core.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

#: the extra that brings pyspark
INSTALL_HINT = (
    "install the Spark extra: pip install 'xinyi[spark]' (and Java 17+, e.g. Debian's openjdk-17-jre-headless)"
)


def spark_available() -> bool:
    """pyspark imports and a Java runtime is found."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return java_home() is not None or shutil.which("java") is not None


def java_home() -> str | None:
    home = os.environ.get("JAVA_HOME")
    return home if home and os.path.isdir(home) else None


def _threads() -> int:
    t = os.environ.get("XINYI_THREADS")
    return int(t) if t and t.isdigit() and int(t) > 0 else (os.cpu_count() or 2)


@functools.cache
def spark_session(master: str | None = None) -> SparkSession:
    """The one Spark session of this process (created on first use, then reused)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(f"the Spark engine needs pyspark: {INSTALL_HINT}") from None
    if java_home() is None and shutil.which("java") is None:
        raise ConfigError(f"the Spark engine needs a Java runtime: {INSTALL_HINT}")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # pyspark warns that it does not yet "fully support" pandas 3; xinyi's Spark paths exchange Arrow
    # batches only (mapInPandas, toArrow), which the parity tests check on the pandas installed
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    threads = _threads()
    master = master or os.environ.get("XINYI_SPARK_MASTER") or f"local[{threads}]"
    scratch = os.environ.get("XINYI_SPARK_LOCAL_DIR") or tempfile.mkdtemp(prefix="xinyi-spark-")
    conf: dict[str, Any] = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "true",
        "spark.sql.shuffle.partitions": str(2 * threads),
        "spark.default.parallelism": str(2 * threads),
        "spark.driver.memory": os.environ.get("XINYI_SPARK_MEMORY", "4g"),
        "spark.local.dir": scratch,
        "spark.sql.warehouse.dir": os.path.join(scratch, "warehouse"),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.extraJavaOptions": f"-Djava.io.tmpdir={scratch} -Dderby.system.home={scratch}",
    }
    if master.startswith("local"):  # local mode talks to itself on loopback only
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        conf["spark.driver.host"] = conf["spark.driver.bindAddress"] = "127.0.0.1"
    builder = SparkSession.builder.master(master).appName("xinyi")
    for k, v in conf.items():
        builder = builder.config(k, v)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session

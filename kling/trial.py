"""`make team`: the team topology on this machine, for a trial.

PostgreSQL (a cluster of its own in `data/team/postgres`, kept between runs), an
S3-compatible server (moto's, in memory: the studio uploads the videos of its folder
again at every start), the simulator as its own service (unless a Firemoon key is
configured), one worker and two studio replicas on two ports, all sharing one database
and one bucket. Ctrl+C stops them all; so does any of them stopping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import db
from .db.cluster import LocalCluster
from .settings import SECRETS_FILE_SETTING, Settings, secrets_file

FOLDER = Path("data/team")
POSTGRES_PORT = 54329
SIMULATOR_PORT = 8765
S3_PORT = 9000
BUCKET = "kling-videos"
STUDIO_PORTS = (8501, 8502)


def _start(name: str, args: list[str], env: dict[str, str], logs: Path
           ) -> tuple[str, subprocess.Popen]:
    log = open(logs / f"{name}.log", "ab")
    return name, subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)


def _make_bucket(env: dict[str, str]) -> None:
    """The trial's bucket, once the S3 server answers."""
    import boto3

    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"],
                          region_name=env["AWS_REGION"],
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    for _ in range(100):
        try:
            client.create_bucket(Bucket=BUCKET)
            return
        except Exception:  # noqa: BLE001 - not answering yet
            time.sleep(0.2)
    raise RuntimeError(f"the S3 server did not start on port {S3_PORT}")


def main() -> int:
    settings = Settings.load()
    logs = FOLDER / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    print("Starting PostgreSQL…", flush=True)
    cluster = LocalCluster(POSTGRES_PORT, FOLDER / "postgres", durable=True)
    processes: list[tuple[str, subprocess.Popen]] = []
    try:
        url = cluster.create_database("kling")
        engine = db.connect(url)
        db.upgrade(engine)
        engine.dispose()
        env = {**os.environ, "KLING_DATABASE_URL": url,
               "KLING_STUDIO_DATA_DIR": str((FOLDER / "data").resolve()),
               SECRETS_FILE_SETTING: str(secrets_file().resolve())}
        python = [sys.executable, "-m", "kling"]
        if not settings.video_store:
            env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{S3_PORT}",
                       AWS_ACCESS_KEY_ID="trial", AWS_SECRET_ACCESS_KEY="trial-secret",
                       AWS_REGION="us-east-1", KLING_VIDEO_STORE=f"s3://{BUCKET}/videos")
            processes.append(_start("s3", [str(Path(sys.executable).with_name("moto_server")),
                                           "-H", "127.0.0.1", "-p", str(S3_PORT)], env, logs))
            _make_bucket(env)
        if settings.demo:
            env["FIREMOON_BASE_URL"] = f"http://127.0.0.1:{SIMULATOR_PORT}"
            processes.append(_start("simulator", [*python, "simulator", "--port",
                                                  str(SIMULATOR_PORT)], env, logs))
        processes.append(_start("worker", [*python, "worker"], env, logs))
        for port in STUDIO_PORTS:
            processes.append(_start(f"studio-{port}", [
                sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
                f"--server.port={port}", "--secrets.files", env[SECRETS_FILE_SETTING]],
                env, logs))
        print(f"\nKling Studio, team topology ({'demo mode' if settings.demo else 'live'}):\n"
              f"  studio replicas  http://localhost:{STUDIO_PORTS[0]}  "
              f"http://localhost:{STUDIO_PORTS[1]}\n"
              f"  database         {db.safe_url(url)}\n"
              + (f"  simulator        http://127.0.0.1:{SIMULATOR_PORT}\n" if settings.demo
                 else "")
              + f"  videos           {env.get('KLING_VIDEO_STORE')} "
              f"({env.get('AWS_ENDPOINT_URL', 'AWS')})\n"
              f"  worker, logs     {logs}/\n\nCtrl+C stops everything.", flush=True)
        while all(process.poll() is None for _, process in processes):
            time.sleep(0.5)
        stopped = [name for name, process in processes if process.poll() is not None]
        print(f"{', '.join(stopped)} stopped (see {logs}/); stopping the rest.",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())

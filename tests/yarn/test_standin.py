"""Self-tests of the YARN stand-in, through skein's public client API only."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import sys
import tarfile
import threading
import zipfile

import pytest
import skein
from skein.exceptions import ApplicationNotRunningError, ConnectionError, DriverError

from standin import wait_until

pytestmark = pytest.mark.yarn

PY = shlex.quote(sys.executable)
SMALL = skein.Resources(memory=128, vcores=1)
APP_ID = re.compile(r"^application_\d{13}_\d{4}$")
CONTAINER_ID = re.compile(r"^container_\d{13}_\d{4}_01_\d{6}$")

#: Inspected from inside container ``a``: written to the kv store as JSON.
PROBE = """\
import json, os, skein
app = skein.ApplicationClient.from_current()
names = ["FOO", "SKEIN_CONTAINER_ID", "SKEIN_APPLICATION_ID", "SKEIN_APPMASTER_ADDRESS",
         "SKEIN_RESOURCE_MEMORY", "SKEIN_RESOURCE_VCORES", "CONTAINER_ID", "LOCAL_DIRS", "NM_HOST"]
info = {
    "env": {k: os.environ.get(k) for k in names},
    "cwd": os.getcwd(),
    "container_dir": skein.properties.container_dir,
    "archive": open("bundle/data/hello.txt").read(),
    "archive_is_dir": os.path.isdir("bundle"),
    "archive_tool_executable": os.access("bundle/bin/tool", os.X_OK),
    "zip": open("zipped/z.txt").read(),
    "plain": open("notes.txt").read(),
    "crt": os.path.exists(".skein.crt") and os.path.exists(".skein.pem"),
}
app.kv["a.info"] = json.dumps(info).encode()
app.kv.wait("stop")
"""


def run_with_timeout(fn, timeout=20.0):
    """Call ``fn`` in a thread (for blocking skein calls such as kv.wait); fail after ``timeout``."""
    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # pragma: no cover - reported below
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise AssertionError("call did not return within %.0f s" % timeout)
    if "error" in out:
        raise out["error"]
    return out["value"]


def containers(app, service=None, states=("WAITING", "REQUESTED", "RUNNING", "SUCCEEDED", "FAILED", "KILLED")):
    return {c.id: c for c in app.get_containers(services=[service] if service else None, states=states)}


def make_files(folder):
    """A .tar.gz (with an executable and a link to an absolute path), a .zip and a plain file."""
    folder.mkdir()
    tar_path = folder / "bundle.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tf:
        def add(name, data, mode=0o644):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tf.addfile(info, io.BytesIO(data))
        add("data/hello.txt", b"from-archive")
        add("bin/tool", b"#!/bin/sh\necho tool-ran\n", mode=0o755)
        link = tarfile.TarInfo("bin/python")  # like venv-pack: a link to the base interpreter
        link.type = tarfile.SYMTYPE
        link.linkname = os.path.realpath(sys.executable)
        tf.addfile(link)
    zip_path = folder / "zipped.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("z.txt", "from-zip")
    plain = folder / "notes.txt"
    plain.write_text("plain-file")
    probe = folder / "probe.py"
    probe.write_text(PROBE)
    return tar_path, zip_path, plain, probe


def test_two_services_kv_depends_files_env_and_logs(yarn_standin, tmp_path):
    tar_path, zip_path, plain, probe = make_files(tmp_path / "files")
    put = "import skein; app = skein.ApplicationClient.from_current(); app.kv['a.value'] = b'hello-from-a'"
    get = ("import skein, sys; app = skein.ApplicationClient.from_current(); "
           "sys.stdout.write('b got: ' + app.kv.wait('a.value').decode() + '\\n')")
    spec = skein.ApplicationSpec(
        name="standin-selftest",
        queue="default",
        tags={"selftest"},
        services={
            "a": skein.Service(
                resources=SMALL,
                env={"FOO": "bar"},
                files={"bundle": str(tar_path), "zipped": str(zip_path), "notes.txt": str(plain), "probe.py": str(probe)},
                script="\n".join([
                    'echo "a: started in $PWD"',
                    "bundle/bin/tool",
                    "bundle/bin/python -c 'print(\"abs-link-ok\")'",
                    f"{PY} -c {shlex.quote(put)}",
                    f"{PY} probe.py",
                ]),
            ),
            "b": skein.Service(
                resources=skein.Resources(memory=256, vcores=2),
                depends=["a"],
                script=f"{PY} -c {shlex.quote(get)}\necho to-stderr >&2",
            ),
        },
    )
    client = yarn_standin.client()
    app_id = client.submit(spec)
    assert APP_ID.match(app_id)
    app = client.connect(app_id)
    assert client.application_report(app_id).state == "RUNNING"

    # kv.wait from this process, a value put by a container
    assert run_with_timeout(lambda: app.kv.wait("a.value")) == b"hello-from-a"
    info = json.loads(run_with_timeout(lambda: app.kv.wait("a.info")))

    # b waited for a's key and wrote it to stdout, then finished
    wait_until(lambda: containers(app, "b")["b_0"].state == "SUCCEEDED", what="b_0 SUCCEEDED")
    cs = containers(app)
    a0, b0 = cs["a_0"], cs["b_0"]
    assert a0.state == "RUNNING" and b0.exit_message == "Completed successfully."
    assert CONTAINER_ID.match(a0.yarn_container_id) and CONTAINER_ID.match(b0.yarn_container_id)
    assert a0.yarn_container_id.endswith("_000002") and b0.yarn_container_id.endswith("_000003")
    assert a0.yarn_node_http_address.startswith("127.0.0.1:")
    assert b0.start_time >= a0.start_time and b0.finish_time is not None
    assert [c.id for c in app.get_containers()] == ["a_0"]  # default: active containers only

    # YARN-like log layout: <log_root>/<app_id>/<container_id>/<service>.log, stdout + stderr
    b_log = yarn_standin.log_root / app_id / b0.yarn_container_id / "b.log"
    assert b_log.read_text().splitlines() == ["b got: hello-from-a", "to-stderr"]
    assert yarn_standin.container_log(app_id, "b_0") == b_log
    a_log = (yarn_standin.log_root / app_id / a0.yarn_container_id / "a.log").read_text()
    assert "a: started in " + str(yarn_standin.work_root / app_id / a0.yarn_container_id) in a_log
    assert "tool-ran" in a_log and "abs-link-ok" in a_log

    # files: archive unpacked under its key (executable kept), zip too, plain file copied
    assert info["archive"] == "from-archive" and info["archive_is_dir"] and info["archive_tool_executable"]
    assert info["zip"] == "from-zip" and info["plain"] == "plain-file" and info["crt"]
    # environment
    env = info["env"]
    assert env["FOO"] == "bar"
    assert env["SKEIN_CONTAINER_ID"] == "a_0" and env["SKEIN_APPLICATION_ID"] == app_id
    assert env["SKEIN_APPMASTER_ADDRESS"] == app.address
    assert (env["SKEIN_RESOURCE_MEMORY"], env["SKEIN_RESOURCE_VCORES"]) == ("128", "1")
    assert env["CONTAINER_ID"] == a0.yarn_container_id and env["NM_HOST"] == "127.0.0.1"
    assert info["cwd"] == info["container_dir"] == str(yarn_standin.work_root / app_id / a0.yarn_container_id)

    # the specification, as rewritten by skein's driver
    served = app.get_specification()
    assert set(served.services) == {"a", "b"} and served.services["b"].depends == {"a"}
    assert served.services["a"].script == "bash .skein.sh ><LOG_DIR>/a.log 2>&1"
    assert {"bundle", "zipped", "notes.txt", ".skein.sh", ".skein.crt", ".skein.pem"} <= set(served.services["a"].files)
    assert served.services["b"].resources.vcores == 2

    report = client.application_report(app_id)
    assert (report.name, report.queue, report.tags, report.host) == ("standin-selftest", "default", {"selftest"}, "127.0.0.1")
    assert report.usage.num_used_containers == 2  # the AM and a_0
    assert [r.id for r in client.get_applications()] == [app_id]

    # when a's container ends, every service is done: the application succeeds
    app.kv["stop"] = b"1"
    final = yarn_standin.wait_for_app(app_id)
    assert (final.state, final.final_status) == ("FINISHED", "SUCCEEDED")
    assert final.diagnostics == "Application completed successfully."
    history = [s for s, _ in yarn_standin.application(app_id).state_history]
    assert history == ["NEW", "SUBMITTED", "ACCEPTED", "RUNNING", "FINISHED"]
    assert yarn_standin.container_exit_code(app_id, "a_0") == 0
    assert yarn_standin.live_process_groups() == []
    logs = client.application_logs(app_id)
    assert "b got: hello-from-a" in logs[b0.yarn_container_id]
    assert any("application.master.log" in text for text in logs.values())
    with pytest.raises(ConnectionError):
        app.get_containers()


def test_depends_waits_then_scale_up_and_down(yarn_standin):
    spec = skein.ApplicationSpec(services={
        "head": skein.Service(resources=SMALL, instances=0, script="sleep 60"),
        "tail": skein.Service(resources=SMALL, instances=2, depends=["head"], script="exec sleep 60"),
    })
    client = yarn_standin.client()
    app_id = client.submit(spec)
    app = client.connect(app_id)

    # tail waits as long as head has no allocated container
    cs = containers(app)
    assert {c.id: str(c.state) for c in cs.values()} == {"tail_0": "WAITING", "tail_1": "WAITING"}
    started = app.scale("head", count=1)
    assert [c.id for c in started] == ["head_0"]
    wait_until(lambda: len(app.get_containers(services=["tail"], states=["RUNNING"])) == 2, what="tail running")
    assert containers(app)["head_0"].state == "RUNNING"

    added = app.scale("tail", count=3)
    assert [c.id for c in added] == ["tail_2"]
    wait_until(lambda: len(app.get_containers(services=["tail"], states=["RUNNING"])) == 3, what="3 tails")
    wait_until(lambda: all(yarn_standin.application(app_id).am.by_yarn_id[c.yarn_container_id].pgid
                           for c in app.get_containers(services=["tail"])), what="tail processes")

    removed = app.scale("tail", delta=-2)  # the oldest running ones go
    assert sorted(c.id for c in removed) == ["tail_0", "tail_1"]
    assert {str(c.state) for c in removed} == {"KILLED"}
    for cid in ("tail_0", "tail_1"):
        assert yarn_standin.container_exit_code(app_id, cid) == 128 + 15  # SIGTERM from the NodeManager
    assert [c.id for c in app.get_containers(services=["tail"])] == ["tail_2"]

    with pytest.raises(ValueError):
        app.scale("nope", count=1)
    added = app.add_container("tail", env={"EXTRA": "1"})
    assert added.id == "tail_3"

    # killContainer RPC: KILLED, never restarted
    app.kill_container("tail_2")
    app.kill_container("tail_3")
    cs = containers(app)
    assert (cs["tail_2"].state, cs["tail_2"].exit_message) == ("KILLED", "Killed by user request.")
    assert [c.id for c in app.get_containers()] == ["head_0"]

    app.shutdown("FAILED", "custom failure")
    final = yarn_standin.wait_for_app(app_id)
    assert (final.state, final.final_status, final.diagnostics) == ("FINISHED", "FAILED", "custom failure")
    assert yarn_standin.live_process_groups() == []


def test_max_restarts_and_fault_injection(yarn_standin):
    spec = skein.ApplicationSpec(services={
        "w": skein.Service(resources=SMALL, max_restarts=1, script='echo "attempt $SKEIN_CONTAINER_ID"\nexec sleep 60'),
    })
    client = yarn_standin.client()
    app_id = client.submit(spec)
    app = client.connect(app_id)
    wait_until(lambda: containers(app).get("w_0") and containers(app)["w_0"].state == "RUNNING", what="w_0")
    log0 = lambda: yarn_standin.container_log(app_id, "w_0")  # noqa: E731
    wait_until(lambda: log0().exists() and "attempt w_0" in log0().read_text(), what="w_0 output")

    yarn_standin.kill_container(app_id, "w_0")  # SIGKILL, like the OOM killer
    cs = containers(app)
    assert cs["w_0"].state == "FAILED"
    assert cs["w_0"].exit_message == "Container failed during execution, see logs for more information."
    assert yarn_standin.container_exit_code(app_id, "w_0") == 137
    w1 = wait_until(lambda: [c for c in app.get_containers(states=["RUNNING"]) if c.id == "w_1"], what="w_1")[0]
    assert w1.yarn_container_id != cs["w_0"].yarn_container_id

    # second failure > max_restarts: the service, hence the application, fails
    log1 = lambda: yarn_standin.container_log(app_id, "w_1")  # noqa: E731
    wait_until(lambda: log1().exists() and "attempt w_1" in log1().read_text(), what="w_1 output")
    yarn_standin.kill_container(app_id, w1.yarn_container_id)
    final = yarn_standin.wait_for_app(app_id)
    assert (final.state, final.final_status) == ("FINISHED", "FAILED")
    assert final.diagnostics == "Failure in service w, see logs for more information."
    assert "attempt w_0" in yarn_standin.container_log(app_id, "w_0").read_text()
    assert yarn_standin.live_process_groups() == []


def test_kill_application_failed_service_and_bad_submit(yarn_standin, tmp_path):
    client = yarn_standin.client()
    sleeper = skein.ApplicationSpec(name="sleeper", services={"s": skein.Service(resources=SMALL, script="sleep 60")})
    app_id = client.submit(sleeper)
    app = client.connect(app_id)
    wait_until(lambda: app.get_containers(states=["RUNNING"]), what="s_0 running")

    client.kill_application(app_id)
    report = client.application_report(app_id)
    assert (report.state, report.final_status) == ("KILLED", "KILLED")
    assert "was killed by user" in report.diagnostics and report.finish_time is not None
    assert yarn_standin.live_process_groups() == []
    with pytest.raises(ApplicationNotRunningError):
        client.connect(app_id)
    assert [r.id for r in client.get_applications(states=["KILLED"])] == [app_id]
    assert client.get_applications() == []
    client.kill_application(app_id)  # no-op once finished

    failing = skein.ApplicationSpec(services={"bad": skein.Service(resources=SMALL, script="echo boom >&2\nexit 3")})
    bad_id = client.submit(failing)
    final = yarn_standin.wait_for_app(bad_id)
    assert (final.state, final.final_status) == ("FINISHED", "FAILED")
    assert final.diagnostics == "Failure in service bad, see logs for more information."
    assert yarn_standin.container_log(bad_id, "bad_0").read_text() == "boom\n"
    assert yarn_standin.container_exit_code(bad_id, "bad_0") == 3

    missing = skein.ApplicationSpec(services={"m": skein.Service(
        resources=SMALL, script="true", files={"x.txt": str(tmp_path / "does-not-exist.txt")})})
    with pytest.raises(DriverError, match="does not exist"):
        client.submit(missing)
    with pytest.raises(ValueError):
        client.application_report("application_1_9999")


def test_kv_store_owners_events_and_transactions(yarn_standin):
    own = ("import os, skein; app = skein.ApplicationClient.from_current(); "
           "app.kv.put('owned', b'mine', owner=os.environ['SKEIN_CONTAINER_ID']); app.kv.wait('release')")
    spec = skein.ApplicationSpec(services={
        "owner": skein.Service(resources=SMALL, script=f"{PY} -c {shlex.quote(own)}"),
        "idle": skein.Service(resources=SMALL, script="sleep 60"),
    })
    client = yarn_standin.client()
    app_id = client.submit(spec)
    app = client.connect(app_id)
    kv = app.kv

    events = kv.events(key="owned")
    put = run_with_timeout(lambda: events.get(timeout=20))
    assert (put.key, str(put.event_type), put.result) == ("owned", "PUT", (b"mine", "owner_0"))
    assert kv.get("owned", return_owner=True) == (b"mine", "owner_0")
    kv["release"] = b"1"  # the owner container exits: its key goes, with a DELETE event
    deleted = run_with_timeout(lambda: events.get(timeout=20))
    assert (deleted.key, str(deleted.event_type), deleted.result) == ("owned", "DELETE", None)
    assert "owned" not in kv
    events.unsubscribe_all()

    kv.update({"p/1": b"a", "p/2": b"b", "q": b"c"})
    assert kv.count(prefix="p/") == 2 and kv.list_keys(prefix="p/") == ["p/1", "p/2"]
    assert dict(kv.get_prefix("p/")) == {"p/1": b"a", "p/2": b"b"}
    assert kv.swap("q", b"d") == b"c" and kv["q"] == b"d"
    assert kv.setdefault("q", b"zzz") == b"d" and kv.setdefault("new", b"n") == b"n"
    res = kv.transaction(conditions=[skein.kv.value("q") == b"d", skein.kv.missing("nothing")],
                         on_success=[skein.kv.put("q", b"e"), skein.kv.get("q")], on_failure=[])
    assert res.succeeded and res.results == [None, b"e"]
    res = kv.transaction(conditions=[skein.kv.value("q") > b"z"], on_failure=[skein.kv.pop_prefix("p/")])
    assert not res.succeeded and dict(res.results[0]) == {"p/1": b"a", "p/2": b"b"}
    assert kv.discard_prefix("p/") == 0
    with pytest.raises(ValueError):
        kv.put("absent", owner="idle_0")  # value ignored, key must exist
    with pytest.raises(ValueError):
        kv.put("k", b"v", owner="owner_0")  # completed container
    with pytest.raises(ValueError):
        kv.put("k", b"v", owner="nope_0")

    waiter = threading.Thread(target=lambda: kv.wait("late"), daemon=True)
    waiter.start()
    kv["late"] = b"here"
    waiter.join(10)
    assert not waiter.is_alive()

    pending = kv.events(prefix="never")
    app.shutdown()
    with pytest.raises((ConnectionError, skein.exceptions.ApplicationError)):
        run_with_timeout(lambda: pending.get(timeout=20))
    final = yarn_standin.wait_for_app(app_id)
    assert (final.state, final.final_status, final.diagnostics) == ("FINISHED", "SUCCEEDED", "Shutdown requested by user.")


def test_master_script_and_am_crash(yarn_standin):
    client = yarn_standin.client()
    driver_only = skein.ApplicationSpec(master=skein.Master(script='echo "driver ran in app $SKEIN_APPLICATION_ID"'))
    app_id = client.submit(driver_only)
    final = yarn_standin.wait_for_app(app_id)
    assert (final.state, final.final_status) == ("FINISHED", "SUCCEEDED")
    assert final.diagnostics == "Application driver completed successfully."
    am_container = "container_%s_01_000001" % app_id[len("application_"):]
    driver_log = yarn_standin.log_root / app_id / am_container / "application.driver.log"
    assert driver_log.read_text() == "driver ran in app %s\n" % app_id

    crash_id = client.submit(skein.ApplicationSpec(services={"s": skein.Service(resources=SMALL, script="sleep 60")}))
    client.connect(crash_id)
    yarn_standin.kill_application_master(crash_id)
    report = client.application_report(crash_id)
    assert (report.state, report.final_status) == ("FAILED", "FAILED")
    assert "AM Container" in report.diagnostics
    assert yarn_standin.live_process_groups() == []


@pytest.mark.parametrize("yarn_standin_options", [{"strict_scripts": True}])
def test_strict_scripts_option(yarn_standin):
    client = yarn_standin.client()
    app_id = client.submit(skein.ApplicationSpec(services={
        "s": skein.Service(resources=SMALL, script="false\necho not-reached"),
    }))
    final = yarn_standin.wait_for_app(app_id)
    assert final.final_status == "FAILED"
    assert yarn_standin.container_log(app_id, "s_0").read_text() == ""


def test_progress_ui_nodes_queues_and_listing(yarn_standin):
    client = yarn_standin.client()
    app_id = client.submit(skein.ApplicationSpec(name="misc", services={
        "s": skein.Service(resources=skein.Resources(memory=512, vcores=3), script="sleep 60")}))
    other_id = client.submit(skein.ApplicationSpec(name="other", services={
        "s": skein.Service(resources=SMALL, script="sleep 60")}))
    app = client.connect(app_id)
    assert client.application_report(app_id).progress == pytest.approx(0.1)  # skein's default
    app.set_progress(0.5)
    assert client.application_report(app_id).progress == pytest.approx(0.5)

    page = app.ui.add_page("dash", "http://127.0.0.1:8787/status", link_name="Dashboard")
    assert page.address == "http://127.0.0.1:8088/proxy/%s/pages/dash" % app_id
    assert set(app.ui.get_pages()) == {"dash"}
    with pytest.raises(ValueError):
        app.ui.add_page("dash", "http://127.0.0.1:1/")
    app.ui.remove_page("dash")
    assert app.ui.get_pages() == {}

    wait_until(lambda: app.get_containers(states=["RUNNING"]), what="s_0 running")
    (node,) = client.get_nodes()
    assert node.host == "127.0.0.1" and str(node.state) == "RUNNING"
    assert node.used_resources.vcores >= 3
    assert client.get_queue("default").name == "default"
    assert [q.name for q in client.get_all_queues()] == ["default"]
    client.move_application(app_id, "default")
    assert [r.id for r in client.get_applications(name="misc")] == [app_id]
    assert sorted(r.id for r in client.get_applications()) == sorted([app_id, other_id])
    client.kill_application(other_id)
    assert [r.id for r in client.get_applications()] == [app_id]
    assert app.get_specification().name == "misc"

#!/usr/bin/env python3
"""The failover drill's load and its checks (stdlib only), against demo gateways.

BASE names one gateway, or several (comma-separated) on one database: sign-ins go to the
first, and every other call goes to the next in turn, so a write through one is read
through another.

  failover-load.py load BASE SECONDS STATE_FILE [SIGNED_IN]   runs the mixed load, writes what was
                                                   acknowledged (SIGNED_IN: an earlier state file
                                                   whose tokens it reuses)
  failover-load.py check BASE STATE_FILE          checks that all of it is there

The load: one client writes a field again and again and reads its record; every tenth
round it creates a grant of that field for a professional and revokes it at once; the
professional, who holds a standing grant of another field, reads the client's record (each
read an audit entry). Every answer is counted by status; a 5xx other than 503 is a
failure, and so is any answer that is not problem+json when it is an error.
"""
import http.cookiejar
import json
import sys
import time
import urllib.error
import urllib.request


_calls = [0]


def pick(base):
    """The gateway for the next call: each in turn."""
    bases = base.split(",")
    _calls[0] += 1
    return bases[_calls[0] % len(bases)]


def browser(base, person):
    """Signs in through the demo provider; returns (opener, bearer token)."""
    base = base.split(",")[0]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/auth/login?login_hint={person}", timeout=10).read()
    me = json.loads(opener.open(f"{base}/api/v1/me", timeout=10).read())
    request = urllib.request.Request(
        f"{base}/api/v1/tokens", method="POST", headers={"x-csrf-token": me["csrf_token"]}
    )
    token = json.loads(opener.open(request, timeout=10).read())["access_token"]
    return me, token


def call(base, token, method, path, body=None):
    base = pick(base)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)
    request.add_header("authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return 0, "", str(error).encode()


def sign_in_retrying(base, person, seconds=30):
    deadline = time.time() + seconds
    while True:
        try:
            return browser(base, person)
        except Exception:  # noqa: BLE001 - the gateway may be between primaries
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def read_grant(pro_id, path):
    """A day's read grant of one field to the professional."""
    return {
        "professional": pro_id,
        "fields": [{"path": path}],
        "actions": ["read"],
        "purpose": {"code": "guidance"},
        "valid_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400)),
    }


def load(base, seconds, state_file, signed_in=None):
    if signed_in:
        # Signing in again would count against the sign-in rate limit of the address.
        earlier = json.load(open(signed_in))
        client, client_token = {"id": earlier["client"]}, earlier["client_token"]
        pro_id, pro_token = earlier["pro"], earlier["pro_token"]
    else:
        client, client_token = sign_in_retrying(base, "client2")
        pro, pro_token = sign_in_retrying(base, "pro-employment")
        pro_id = pro["id"]
        # A standing grant of another field: the professional's reads are permitted, so
        # each is an audit entry, appended through both gateways in turn.
        standing = read_grant(pro_id, "identity.name")
        status, _, body = call(base, client_token, "POST", "/api/v1/me/grants", standing)
        if status != 201:
            print("the standing grant was refused:", status, body[:300])
            return 1
    statuses, writes, revoked, bad = {}, [], [], []
    attempted_after_last_ack = []
    round_ = 0
    first_error = last_error = None
    end = time.time() + seconds
    while time.time() < end:
        round_ += 1
        value = f"seuranta {round_}"
        status, ctype, body = call(
            base, client_token, "PUT", "/api/v1/me/record/plan.follow_up", {"value": value}
        )
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            writes.append({"version": json.loads(body)["version"], "value": value})
            attempted_after_last_ack = []
        else:
            attempted_after_last_ack.append(value)
            now = time.time()
            first_error = first_error or now
            last_error = now
            if status >= 500 and status != 503 or (status >= 400 and "problem+json" not in ctype):
                bad.append({"status": status, "type": ctype, "body": body[:300].decode("utf-8", "replace")})
        for method, path, token in (
            ("GET", "/api/v1/me/record", client_token),
            ("GET", f"/api/v1/clients/{client['id']}/record", pro_token),
        ):
            status, ctype, body = call(base, token, method, path)
            statuses[status] = statuses.get(status, 0) + 1
            if status >= 500 and status != 503 or (status >= 400 and "problem+json" not in ctype):
                bad.append({"status": status, "type": ctype, "body": body[:300].decode("utf-8", "replace")})
        if round_ % 10 == 0 and len(revoked) < 8:
            grant = read_grant(pro_id, "plan.follow_up")
            status, _, body = call(base, client_token, "POST", "/api/v1/me/grants", grant)
            if status == 201:
                grant_id = json.loads(body)["id"]
                status, _, _ = call(base, client_token, "DELETE", f"/api/v1/me/grants/{grant_id}")
                if status == 200:
                    revoked.append(grant_id)
    state = {
        "client": client["id"],
        "client_token": client_token,
        "pro": pro_id,
        "pro_token": pro_token,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "writes": writes,
        "unacknowledged_after_last": attempted_after_last_ack,
        "revoked": revoked,
        "bad": bad,
        "error_window_s": round(last_error - first_error, 2) if first_error else 0.0,
    }
    with open(state_file, "w") as out:
        json.dump(state, out)
    print(json.dumps({k: state[k] for k in ("statuses", "error_window_s")}), "writes acknowledged:", len(writes), "revocations:", len(revoked))
    return 0 if not bad else 1


def check(base, state_file):
    state = json.load(open(state_file))
    failures = list(state["bad"])
    client_token, pro_token = state["client_token"], state["pro_token"]
    status, _, body = call(base, client_token, "GET", "/api/v1/me/export")
    if status != 200:
        failures.append(f"export: {status}")
    export = json.loads(body) if status == 200 else {}
    versions = {}

    # Every version of the field, wherever the export lists it.
    def walk(node):
        if isinstance(node, dict):
            if node.get("path") == "plan.follow_up" and "version" in node:
                versions[node["version"]] = node.get("value")
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(export)
    latest = max(versions) if versions else 0
    for write in state["writes"]:
        kept = write["version"] > latest - 100
        if write["version"] > latest:
            failures.append(f"acknowledged version {write['version']} is missing (latest {latest})")
        elif kept and write["version"] in versions and versions[write["version"]] != write["value"]:
            failures.append(f"version {write['version']} holds {versions[write['version']]!r}, acknowledged {write['value']!r}")
        elif kept and write["version"] not in versions:
            failures.append(f"acknowledged version {write['version']} is missing")
    if state["writes"]:
        last = state["writes"][-1]["value"]
        current = versions.get(latest)
        if current != last and current not in state["unacknowledged_after_last"]:
            failures.append(f"the field holds {current!r}, the last acknowledged write was {last!r}")
    status, _, body = call(base, client_token, "GET", "/api/v1/me/grants?limit=1000")
    grants = json.loads(body) if status == 200 else {}
    grants = grants.get("items", grants) if isinstance(grants, dict) else grants
    by_id = {g["id"]: g for g in grants}
    for grant_id in state["revoked"]:
        grant = by_id.get(grant_id)
        if grant is None or grant.get("state") != "revoked":
            failures.append(f"revoked grant {grant_id} reads {grant and grant.get('state')}")
    # Only revoked grants were given in the drill: the field must not be readable.
    status, _, body = call(base, pro_token, "GET", f"/api/v1/clients/{state['client']}/record")
    if status == 200 and "seuranta" in body.decode("utf-8", "replace"):
        failures.append("the professional still reads the field after every grant was revoked")
    for failure in failures:
        print("FAIL:", failure)
    print(f"checked {len(state['writes'])} acknowledged writes (latest version {latest}), {len(state['revoked'])} revocations")
    return 1 if failures else 0


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "load":
        sys.exit(load(sys.argv[2], float(sys.argv[3]), sys.argv[4], *sys.argv[5:6]))
    elif command == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    sys.exit(2)

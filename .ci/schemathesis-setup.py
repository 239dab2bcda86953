"""Signs the demo accounts in and makes the data `.ci/schemathesis` tests against.

Prints `export NAME=value` lines for the shell: bearer tokens (the staff admin's after its
TOTP enrolment with the demo's enrolment code, the code computed here as an authenticator
app would) and the ids of a booking, a
family member and a doctor, so operations on `/{id}` reach their handlers' rules instead of
answering 404 to every drawn id. Standard library only: it runs before any install.

Usage: schemathesis-setup.py PLATFORM_URL ELIGIBILITY_URL
"""

import base64
import hashlib
import hmac
import json
import struct
import sys
import time
import urllib.parse
import urllib.request

PASSWORD = "tsunagu-demo-2026"
# The one-time TOTP enrolment code the demo data issues to every staff login.
ENROL_CODE = "DEMO2-ENR0L"


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def totp(secret, at):
    """RFC 6238: SHA-1, 6 digits, 30-second steps (what the server enrols)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    n = (struct.unpack(">I", mac[off : off + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{n:06d}"


def patient_login(plat, phone):
    return call(plat, "POST", "/api/v1/login", {"phone": phone, "password": PASSWORD})["token"]


def main():
    plat, elig = sys.argv[1], sys.argv[2]
    out = {}
    # 山田 for the patient operations; a second session of his for `/logout`, which ends
    # the token it is sent with; 佐藤 for `/me/logout-everywhere`, which ends all of hers.
    out["PATIENT"] = patient_login(plat, "090-0000-0001")
    out["LOGOUT"] = patient_login(plat, "090-0000-0001")
    out["EVERYWHERE"] = patient_login(plat, "090-0000-0002")

    staff = call(
        plat,
        "POST",
        "/api/v1/staff/login",
        {"facility": "tsunagu-central", "login_id": "admin", "password": PASSWORD},
    )
    if staff["totp"] != "enrol":
        sys.exit(f"the demo admin should enrol TOTP first, not {staff['totp']!r}")
    secret = call(
        plat, "POST", "/api/v1/staff/totp/enrol", {"enrol_code": ENROL_CODE}, staff["token"]
    )["secret"]
    code = totp(secret, time.time())
    out["STAFF"] = call(plat, "POST", "/api/v1/staff/totp", {"code": code}, staff["token"])["token"]

    out["ELIG"] = call(
        elig,
        "POST",
        "/api/v1/login",
        {"institution": "1310000011", "login_id": "viewer", "password": PASSWORD},
    )["token"]

    # A booking of 山田's at tsunagu-central, which the staff admin sees too.
    me = call(plat, "GET", "/api/v1/me", token=out["PATIENT"])
    myself = next(p for p in me["patients"] if p["relation"] == "self")
    family = next(p for p in me["patients"] if p["relation"] == "family")
    menu = call(plat, "GET", "/api/v1/facilities/tsunagu-central/menus")[0]
    query = urllib.parse.urlencode({"menu": menu["id"], "kind": "first", "days": 14})
    slot = call(plat, "GET", f"/api/v1/facilities/tsunagu-central/slots?{query}")[0]
    booking = call(
        plat,
        "POST",
        "/api/v1/me/bookings",
        {
            "facility": "tsunagu-central",
            "patient_id": myself["id"],
            "menu_id": menu["id"],
            "kind": "first",
            "doctor_id": slot["doctor_id"],
            "starts_at": slot["starts_at"],
        },
        out["PATIENT"],
    )
    out["BOOKING"] = str(booking["id"])
    out["SELF"] = str(myself["id"])
    out["FAMILY"] = str(family["id"])
    out["DOCTOR"] = str(slot["doctor_id"])

    for name, value in out.items():
        print(f"export TSUNAGU_ST_{name}={value}")


if __name__ == "__main__":
    main()

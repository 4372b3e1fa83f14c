# SPDX-License-Identifier: MIT
"""Bad requests get JSON-RPC errors and the connection goes on: invalid
JSON, not an object, a batch, a wrong version, an unknown method, params
of the wrong type or unknown, a NUL byte or \u0000, bytes that are not
UTF-8, numbers json-c would clamp, a line over the 64 KiB cap;
notifications get no reply."""
import ctl_lib

PARSE, INVALID, NO_METHOD, PARAMS, NO_EXPORT = -32700, -32600, -32601, -32602, -32001


def main(c):
    c.start(["--disk", "memory:1M", "--socket", c.path("a.sock")])
    s = c.connect()

    def expect(raw, code, words="", want_id=None):
        r = c.line(s, raw)
        e = r.get("error")
        c.check(e is not None and e.get("code") == code,
                "%r: reply %r, want error %d" % (raw[:80], r, code))
        c.check(words in e.get("message", ""), "%r: message %r lacks %r" %
                (raw[:80], e.get("message"), words))
        c.check(r.get("id") == want_id, "%r: id %r, want %r" % (raw[:80], r.get("id"), want_id))

    expect(b"this is not json\n", PARSE, "parse error")
    expect(b'{"jsonrpc": "2.0", "method": "export_list", "id": 1\n', PARSE)
    expect(b'{"jsonrpc":"2.0","method":"export_list","id":1} {}\n', PARSE)
    expect(b'{"jsonrpc":"2.0","method":"export_list","id":1,}\n', PARSE)
    expect(b'{"a":"\xff\xfe"}\n', PARSE)
    expect(b'{"jsonrpc":"2.0","method":"export_list",\x00"id":1}\n', PARSE, "NUL")
    expect(b"123\n", INVALID, "not an object")
    expect(b'[{"jsonrpc":"2.0","method":"export_list","id":1}]\n', INVALID, "batch")
    expect(b'{"method":"export_list","id":7}\n', INVALID, "2.0", 7)
    expect(b'{"jsonrpc":"1.0","method":"export_list","id":7}\n', INVALID, "2.0", 7)
    expect(b'{"jsonrpc":"2.0","method":5,"id":"x"}\n', INVALID, "method", "x")
    expect(b'{"jsonrpc":"2.0","method":"export_list","id":[1]}\n', INVALID, "id")
    expect(b'{"jsonrpc":"2.0","method":"export_list","id":1,"extra":1}\n', INVALID, "extra", 1)
    expect(b'{"jsonrpc":"2.0","method":"no_such","id":2}\n', NO_METHOD, "no_such", 2)
    expect(b'{"jsonrpc":"2.0","method":"export_list","params":[1],"id":3}\n', PARAMS,
           "by name", 3)
    expect(b'{"jsonrpc":"2.0","method":"export_list","params":{"x":1},"id":3}\n', PARAMS,
           "unknown parameter 'x'", 3)
    expect(b'{"jsonrpc":"2.0","method":"export_remove","params":{"name":true},"id":4}\n',
           PARAMS, "string", 4)
    expect(b'{"jsonrpc":"2.0","method":"export_remove","params":{},"id":4}\n', PARAMS,
           "missing parameter 'name'", 4)
    expect(b'{"jsonrpc":"2.0","method":"export_remove","params":{"name":"nope"},"id":5}\n',
           NO_EXPORT, "nope", 5)
    expect(b'{"jsonrpc":"2.0","method":"export_resize","params":{"name":"disk0","size":"1G"},'
           b'"id":6}\n', PARAMS, "integer", 6)
    # What fuzz_rpc found (docs/fuzzing.md): json-c's C strings made
    # "disk0\u0000x" name disk0; a surrogate in UTF-8 (CESU) passed json-c's
    # check; a name cut at 64 bytes inside a character made the reply not
    # UTF-8 (read_reply's json.loads refuses it); json-c clamped 2^64 - 1 to
    # 2^63 - 1.
    expect(b'{"jsonrpc":"2.0","method":"export_remove","params":{"name":"disk0\\u0000x"},'
           b'"id":11}\n', INVALID, "NUL", 11)
    expect(b'{"jsonrpc":"2.0","method":"\xed\xa0\x80","id":12}\n', PARSE, "UTF-8")
    expect(b'{"jsonrpc":"2.0","method":"export_remove","params":{"name":"x' +
           "\u00e9".encode() * 40 + b'"},"id":13}\n', NO_EXPORT, "no export named 'x", 13)
    expect(b'{"jsonrpc":"2.0","method":"export_resize","params":{"name":"disk0",'
           b'"size":18446744073709551615},"id":14}\n', PARAMS, "2^63", 14)
    r = c.line(s, b'{"jsonrpc":"2.0","method":"export_list","id":15}\n')
    c.check([e.get("name") for e in r.get("result", [])] == ["disk0"],
            "disk0 must still be there: %r" % r)
    # Nested deeper than any request needs: refused by the parser, not followed.
    expect(b'{"jsonrpc":"2.0","method":"export_list","params":' + b'{"a":' * 50 + b'1' +
           b'}' * 50 + b',"id":8}\n', PARSE)
    # A line over the cap: one error, the rest of the line skipped, the next one served.
    big = b'{"jsonrpc":"2.0","method":"export_list","id":9,"pad":"' + b"x" * 200000 + b'"}\n'
    expect(big, INVALID, "longer than 65536")
    r = c.line(s, b'{"jsonrpc":"2.0","method":"export_list","id":10}\n')
    c.check(r.get("id") == 10 and len(r.get("result", [])) == 1, "after the long line: %r" % r)
    # A notification (no id) gets no reply: the next reply is the request's.
    r = c.line(s, b'{"jsonrpc":"2.0","method":"export_list"}\n'
               b'{"jsonrpc":"2.0","method":"no_such"}\n\r\n\n'
               b'{"jsonrpc":"2.0","method":"export_list","id":"after"}\r\n')
    c.check(r.get("id") == "after", "a notification was answered: %r" % r)
    s.close()
    c.alive()
    c.vblk_ok(["info", c.path("a.sock")])
    c.stop()


ctl_lib.run("errors", main)

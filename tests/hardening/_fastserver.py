"""A fast keep-alive HTTPS server for the leak test (its own process).

    python _fastserver.py CERT_PEM KEY_PEM   -> prints the port, serves until killed

Answers every POST with a small Bitrix24 envelope.  asyncio, one protocol
object per connection, no HTTP library: ~10k answers/s on one core.
"""
import asyncio
import ssl
import sys

BODY = (b'{"result":{"ID":"42","TITLE":"Deal","OPPORTUNITY":"10.00","ITEMS":[1,2,3]},'
        b'"time":{"start":1.0,"finish":1.1,"duration":0.1,"operating":0}}')
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
          + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


class Proto(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                return
            head = self.buf[:i].lower()
            n = 0
            j = head.find(b"content-length:")
            if j >= 0:
                n = int(head[j + 15:].split(b"\r\n", 1)[0])
            if len(self.buf) < i + 4 + n:
                return
            self.buf = self.buf[i + 4 + n:]
            self.t.write(ANSWER)


async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    srv = await asyncio.get_running_loop().create_server(Proto, "127.0.0.1", 0, ssl=ctx)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()


asyncio.run(main())

"""The stream format of iterative device migration, for the tools that
read or write streams (fuzz seeds and regression inputs).

The constants come from QEMU's include/migration/iterative-device-wire.h,
the one description of the format; this module only parses it and
splits or joins records and fields.
"""

import os
import re
import struct


class Wire:
    """Constants of iterative-device-wire.h in the QEMU source at `src`"""

    def __init__(self, src):
        path = os.path.join(src, 'include', 'migration',
                            'iterative-device-wire.h')
        text = open(path).read()
        defs = dict(re.findall(r'#define (ITERATIVE_\w+)\s+([^\n]+)', text))

        def value(name):
            expr = defs[name].split('/*')[0].strip()
            expr = re.sub(r'(0x[0-9a-fA-F]+|\d+)U?L*L?\b', r'\1', expr)
            expr = re.sub(r'ITERATIVE_\w+', lambda m: str(value(m.group(0))),
                          expr)
            return eval(expr, {})  # noqa: S307 (constants of our own header)

        self.tags = {n[len('ITERATIVE_TAG_'):]: value(n) for n in defs
                     if n.startswith('ITERATIVE_TAG_') and n != 'ITERATIVE_TAG_BASE'}
        self.tag_base = value('ITERATIVE_TAG_BASE')
        self.record_hdr_len = value('ITERATIVE_RECORD_HDR_LEN')
        self.body_hdr_len = value('ITERATIVE_RECORD_BODY_HDR_LEN')
        self.absent = value('ITERATIVE_FIELD_ABSENT')

    def records(self, payload):
        """[(tag, body)] of a section's payload, up to its END tag"""
        out, pos = [], 0
        while True:
            tag, = struct.unpack_from('>Q', payload, pos)
            pos += 8
            if tag == self.tags['END']:
                return out
            length, = struct.unpack_from('>I', payload, pos)
            pos += 4
            out.append((tag, payload[pos:pos + length]))
            pos += length

    def join_records(self, records):
        return b''.join(struct.pack('>QI', tag, len(body)) + body
                        for tag, body in records) + \
            struct.pack('>Q', self.tags['END'])

    def fields(self, body):
        """(generation, [[name, version, data or None if absent]])"""
        generation, count = struct.unpack_from('>IH', body, 0)
        pos, out = self.body_hdr_len, []
        for _ in range(count):
            n = body[pos]
            name = body[pos + 1:pos + 1 + n].decode()
            version, length = struct.unpack_from('>II', body, pos + 1 + n)
            pos += 1 + n + 8
            if length == self.absent:
                out.append([name, version, None])
                continue
            out.append([name, version, body[pos:pos + length]])
            pos += length
        return generation, out

    def join_fields(self, generation, fields):
        out = struct.pack('>IH', generation, len(fields))
        for name, version, data in fields:
            out += bytes([len(name)]) + name.encode()
            out += struct.pack('>II', version,
                               self.absent if data is None else len(data))
            out += data or b''
        return out


def chunks(data):
    """The fuzz harness's input: [(kind, payload)]"""
    out, pos = [], 0
    while pos + 3 <= len(data):
        kind, length = data[pos], struct.unpack_from('>H', data, pos + 1)[0]
        out.append((kind, data[pos + 3:pos + 3 + length]))
        pos += 3 + length
    return out


def join_chunks(chunk_list):
    return b''.join(bytes([kind]) + struct.pack('>H', len(p)) + p
                    for kind, p in chunk_list)

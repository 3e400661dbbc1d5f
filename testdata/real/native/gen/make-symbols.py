#!/usr/bin/env python3
"""Writes symbols/python3.11: the function symbols of Debian's python3.11-dbg debug file with
the program headers of /usr/bin/python3.11, so that leakdiff (eval --symbols, report --symbols)
can name the jemalloc and gperftools dumps' addresses on a machine without python3.11-dbg.

A debug file keeps the binary's section table and symbols, but objcopy rewrites its program
headers (file offsets and sizes 0), which map a file offset to an address; those are copied back
from the binary, whose own code is not included. No DWARF (names of inlined functions are not
there). eval reads no system debug folder, so its names are the same on every machine.

Usage: gen/make-symbols.py BINARY DEBUGFILE OUT  (needs objcopy from binutils)
"""
import struct, subprocess, sys

binary, debug, out = sys.argv[1:4]
subprocess.run(["objcopy", "--strip-debug", debug, out],
               check=True)


def phdrs(b):
    assert b[:4] == b"\x7fELF" and b[4] == 2 and b[5] == 1, "64-bit little-endian ELF only"
    phoff, = struct.unpack_from("<Q", b, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", b, 0x36)
    return phoff, phentsize, phnum


src = open(binary, "rb").read()
dst = bytearray(open(out, "rb").read())
(so, se, sn), (do, de, dn) = phdrs(src), phdrs(dst)
assert (se, sn) == (de, dn), "the debug file's program headers differ in number from the binary's"
dst[do:do + de * dn] = src[so:so + se * sn]
open(out, "wb").write(dst)

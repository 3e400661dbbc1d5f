// pbscrub rewrites the string-table entries of a gzipped pprof profile.proto that name the
// generator binary's scratch path (the mapping file Go took from /proc/self/maps) to a neutral
// path, keeping every other field byte for byte, and gzips it again the way runtime/pprof does
// (compress/gzip, BestSpeed, no name, no mtime).
//
//	pbscrub -from PREFIX -to REPLACEMENT FILE.pb.gz...   (rewritten in place)
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func uvarint(b []byte, i int) (uint64, int) {
	v, n := binary.Uvarint(b[i:])
	if n <= 0 {
		panic("bad varint")
	}
	return v, i + n
}

func scrub(p []byte, from, to string) ([]byte, int) {
	var out []byte
	changed := 0
	for i := 0; i < len(p); {
		start := i
		key, j := uvarint(p, i)
		field, wire := key>>3, key&7
		switch wire {
		case 0:
			_, j = uvarint(p, j)
		case 1:
			j += 8
		case 5:
			j += 4
		case 2:
			n, k := uvarint(p, j)
			j = k + int(n)
			if field == 6 { // string_table
				s := string(p[k:j])
				if strings.HasPrefix(s, from) {
					s = to + s[len(from):]
					out = binary.AppendUvarint(out, key)
					out = binary.AppendUvarint(out, uint64(len(s)))
					out = append(out, s...)
					changed++
					i = j
					continue
				}
			}
		default:
			panic(fmt.Sprintf("wire type %d", wire))
		}
		out = append(out, p[start:j]...)
		i = j
	}
	return out, changed
}

func main() {
	from := flag.String("from", "", "string-table prefix to replace")
	to := flag.String("to", "", "replacement")
	flag.Parse()
	for _, name := range flag.Args() {
		raw, err := os.ReadFile(name)
		if err != nil {
			panic(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			panic(err)
		}
		p, err := io.ReadAll(zr)
		if err != nil {
			panic(err)
		}
		q, n := scrub(p, *from, *to)
		if n == 0 {
			continue
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(q)
		zw.Close()
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			panic(err)
		}
	}
}

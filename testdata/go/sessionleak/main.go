// Command sessionleak plants the leak of a typical Go service in a small heap, then writes a Go
// heap dump after each step: sessions that are never closed stay in a global slice
// (main.sessions), each with a connection pointing back at it (a session↔conn cycle), a data
// buffer, three pointers at older sessions, and every fourth one also in a map (main.index), so
// those are held by two roots. What each dump holds is exact: after step k, k·per sessions, as
// many conns, k·per data and conn buffers, and the slice's backing array.
//
//	sessionleak -steps 8 -per 40 -out series/s         MemProfileRate = 1: every object has a site
//	sessionleak -rate -1 -steps 1 -per 4000 -out d     Go's default MemProfileRate (512 KiB)
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
)

type conn struct {
	owner *session
	fd    int
	buf   []byte
}

type session struct {
	id    int
	conn  *conn
	data  []byte
	peers [3]*session
}

var (
	sessions []*session
	index    = map[int]*session{}
)

//go:noinline
func newConn(s *session) *conn {
	return &conn{owner: s, fd: s.id, buf: make([]byte, 64)}
}

//go:noinline
func newSession(id int) *session {
	s := &session{id: id, data: make([]byte, 256)}
	s.conn = newConn(s)
	return s
}

func main() {
	rate := flag.Int("rate", 1, "runtime.MemProfileRate (-1: leave Go's default)")
	steps := flag.Int("steps", 8, "dumps to write")
	per := flag.Int("per", 40, "sessions opened (and never closed) before each dump")
	out := flag.String("out", "session", "dump files: OUT-01.dump, OUT-02.dump, …")
	flag.Parse()
	if *rate >= 0 {
		runtime.MemProfileRate = *rate
	}
	id := 0
	for step := 1; step <= *steps; step++ {
		for i := 0; i < *per; i++ {
			s := newSession(id)
			for p := range s.peers {
				if len(sessions) > 0 {
					s.peers[p] = sessions[(id*7+p*13)%len(sessions)]
				}
			}
			sessions = append(sessions, s)
			if id%4 == 0 {
				index[id] = s
			}
			id++
		}
		runtime.GC()
		f, err := os.Create(fmt.Sprintf("%s-%02d.dump", *out, step))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		debug.WriteHeapDump(f.Fd())
		f.Close()
	}
	fmt.Println(len(sessions), "sessions,", len(index), "indexed")
}

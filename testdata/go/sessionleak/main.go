// Command sessionleak plants the leak of a typical Go service in a small heap, then writes a Go
// heap dump after each step: sessions that are never closed stay in a global slice
// (main.sessions), each with a connection pointing back at it (a session↔conn cycle), a data
// buffer, three pointers at older sessions, and every fourth one also in a map (main.index), so
// those are held by two roots. What each dump holds is exact: after step k, k·per sessions, as
// many conns, k·per data and conn buffers, and the slice's backing array. Three request
// handlers (main.serve) are parked on a channel the whole time, each holding what only its
// arguments hold: a *main.request, a []*main.request of two more and a main.handler interface
// holding a *main.audit (3 audits, 9 requests, 3 slices in all), kept on the stack whole, in
// pieces, or in the area of the wrapper's frame where Go spills a call's register arguments.
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

type request struct {
	id   int
	body []byte
}

type handler interface{ handle() int }

type audit struct{ seen [3]int }

func (a *audit) handle() int { return a.seen[0] }

var served int

//go:noinline
func serve(r *request, more []*request, h handler, wait chan struct{}) {
	<-wait
	served += r.id + len(more) + more[0].id + more[1].id + h.handle()
}

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
	wait := make(chan struct{})
	for i := 0; i < 3; i++ {
		more := []*request{{id: 10*i + 1, body: make([]byte, 32)}, {id: 10*i + 2, body: make([]byte, 32)}}
		go serve(&request{id: 10 * i, body: make([]byte, 32)}, more, &audit{}, wait)
	}
	for runtime.NumGoroutine() < 4 {
		runtime.Gosched()
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
	close(wait)
}

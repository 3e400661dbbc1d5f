// sessions.cpp: a small "service" that handles ticks of requests, for leakdiff's real C++
// corpus (testdata/real/cpp).  Single-threaded, deterministic (no clock, no randomness).
//
//   sessions growing|steady [TICKS] [NEW_PER_TICK] [REQUESTS_PER_TICK] [PAUSE_MS]
//
// Every tick registers NEW_PER_TICK sessions (register_session) and handles REQUESTS_PER_TICK
// requests.  Each request appends one Event to a session's history (append_history) and does
// some churn: it builds a temporary std::string response (build_response) and fills a temporary
// scratch buffer (fill_scratch), both freed before the next request.
//
//   growing: the registry is never pruned (the planted leak): every session, its key, its LRU
//            list node and its history vector stay for ever.
//   steady:  the same code, with the registry capped at CAP sessions: register_session evicts
//            the least recently registered one (evict_oldest) once the cap is reached, so memory
//            fills over the first ticks and then holds.
//
// The registry is allocated with new and never deleted (as a process-wide singleton often is),
// so what it holds is still in use at exit.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <string>
#include <thread>
#include <chrono>
#include <unordered_map>
#include <vector>

#define NOINLINE __attribute__((noinline))

struct Event {
  std::uint64_t seq;
  std::uint32_t code;
  std::uint32_t bytes;
  char tag[16];
};  // 32 bytes

struct Session {
  std::string client;                        // > 15 chars: on the heap, no small-string buffer
  std::vector<Event> history;                // grows by push_back (append_history)
  std::list<std::string>::iterator lru;      // position in Registry::order
  std::uint64_t hits = 0;
};

struct Registry {
  std::unordered_map<std::string, Session> sessions;
  std::list<std::string> order;  // oldest first
  std::size_t cap = 0;           // 0: never pruned
};

static Registry* g_registry;       // never deleted
static volatile std::uint64_t g_sink;  // keeps the churn from being optimised away

// Evicts the least recently registered session (steady only).
NOINLINE static void evict_oldest(Registry& r) {
  const std::string& oldest = r.order.front();
  r.sessions.erase(oldest);
  r.order.pop_front();
}

// Planted site 1: inserts a session (hash node with its key and client strings, bucket array
// growth, LRU list node).  In growing mode nothing ever removes it.
NOINLINE Session& register_session(Registry& r, const std::string& id, unsigned n) {
  if (r.cap != 0 && r.sessions.size() >= r.cap) evict_oldest(r);
  char client[64];
  std::snprintf(client, sizeof client, "client-%06u.region-%02u.example", n % 1000000, n % 17);
  auto [it, inserted] = r.sessions.try_emplace(id);
  Session& s = it->second;
  if (inserted) {
    s.client.assign(client);
    r.order.push_back(id);
    s.lru = std::prev(r.order.end());
  }
  return s;
}

// Planted site 2: appends an Event to the session's history (vector growth by doubling).
NOINLINE void append_history(Session& s, std::uint64_t seq, std::uint32_t code, std::uint32_t bytes) {
  Event e{};
  e.seq = seq;
  e.code = code;
  e.bytes = bytes;
  std::snprintf(e.tag, sizeof e.tag, "ev%010llu", static_cast<unsigned long long>(seq));
  s.history.push_back(e);
  s.hits++;
}

// Churn: a temporary response string, built piece by piece (several reallocations), freed by
// the caller.
NOINLINE std::string build_response(const Session& s, std::uint64_t seq, unsigned parts) {
  std::string out;
  out += "{\"client\":\"";
  out += s.client;
  out += "\",\"events\":[";
  char buf[48];
  for (unsigned i = 0; i < parts; i++) {
    int n = std::snprintf(buf, sizeof buf, "{\"seq\":%llu,\"i\":%u},",
                          static_cast<unsigned long long>(seq), i);
    out.append(buf, static_cast<std::size_t>(n));
  }
  out += "]}";
  return out;
}

// Churn: a temporary scratch buffer, filled and checksummed, freed on return.
NOINLINE std::uint64_t fill_scratch(std::size_t size, std::uint64_t seed) {
  std::vector<unsigned char> scratch(size);
  std::uint64_t h = seed;
  for (std::size_t i = 0; i < size; i += 64) {
    h = h * 6364136223846793005ULL + 1442695040888963407ULL;
    scratch[i] = static_cast<unsigned char>(h >> 56);
  }
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < size; i += 64) sum += scratch[i];
  return sum;
}

NOINLINE void handle_request(Registry& r, std::vector<Session*>& recent, std::uint64_t seq) {
  Session& s = *recent[seq % recent.size()];
  append_history(s, seq, static_cast<std::uint32_t>(seq % 7), static_cast<std::uint32_t>(seq % 4096));
  std::string resp = build_response(s, seq, 8 + static_cast<unsigned>(seq % 24));
  std::uint64_t sum = fill_scratch(4096 + (seq % 8) * 1024, seq);
  g_sink = g_sink + resp.size() + sum + r.sessions.size();
}

int main(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "growing") != 0 && std::strcmp(argv[1], "steady") != 0)) {
    std::fprintf(stderr, "usage: %s growing|steady [TICKS] [NEW_PER_TICK] [REQUESTS_PER_TICK] [PAUSE_MS]\n", argv[0]);
    return 2;
  }
  const bool growing = std::strcmp(argv[1], "growing") == 0;
  const unsigned ticks = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 20;
  const unsigned fresh = argc > 3 ? static_cast<unsigned>(std::atoi(argv[3])) : 500;
  const unsigned requests = argc > 4 ? static_cast<unsigned>(std::atoi(argv[4])) : 4000;
  const unsigned pause_ms = argc > 5 ? static_cast<unsigned>(std::atoi(argv[5])) : 150;

  g_registry = new Registry;
  g_registry->cap = growing ? 0 : 2 * fresh;  // steady: two ticks' worth of sessions
  std::uint64_t seq = 0;
  unsigned n = 0;
  for (unsigned t = 0; t < ticks; t++) {
    std::vector<Session*> recent;  // this tick's sessions (a temporary)
    recent.reserve(fresh);
    for (unsigned i = 0; i < fresh; i++, n++) {
      char id[40];
      std::snprintf(id, sizeof id, "session-%04u-%06u-%08x", t, i, n * 2654435761u);
      recent.push_back(&register_session(*g_registry, id, n));
    }
    for (unsigned q = 0; q < requests; q++) handle_request(*g_registry, recent, seq++);
    std::fprintf(stderr, "tick %u: %zu sessions\n", t, g_registry->sessions.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
  std::printf("%llu\n", static_cast<unsigned long long>(g_sink));
  return 0;
}

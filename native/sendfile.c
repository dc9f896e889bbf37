/* aptgate's zero-copy path for cached files: sendfile(2) from a cache file into a client
   socket. Jobs run on a few threads of this module's own (not libuv's pool, so a long transfer
   never delays the file system operations of fills and hits); a full socket of a slow client is
   watched by one waiter thread, so it holds no thread and no buffer. Results come back to the
   event loop through a thread-safe function. Built by node-gyp at `npm install`
   (binding.gyp); the server falls back to a JavaScript read/write loop when it is missing. */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define THREADS 4

enum { JOB_SEND = 1, JOB_WAIT = 2 };

typedef struct job {
  int kind;
  struct job *next;
  napi_deferred deferred;
  int out_fd;
  int in_fd;
  int64_t offset;
  int64_t count;
  int32_t wait_ms;
  int64_t sent;
  int eof;
  int err;
  /* JOB_WAIT */
  int64_t deadline;
  int writable;
} job_t;

static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;
static job_t *waits = NULL;
static int wake[2] = { -1, -1 };

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static job_t *head = NULL, *tail = NULL;
static int started = 0;
static napi_threadsafe_function done_fn;

static void run(job_t *j) {
  off_t off = (off_t)j->offset;
  int64_t total = 0;
  while (total < j->count) {
    ssize_t n = sendfile(j->out_fd, j->in_fd, &off, (size_t)(j->count - total));
    if (n > 0) { total += n; continue; }
    if (n == 0) { j->eof = 1; break; }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      /* socket full: a client that reads fast makes room within milliseconds, so wait that
         long to keep the pipe full; a slow one is handed back to the event loop */
      struct pollfd p = { .fd = j->out_fd, .events = POLLOUT, .revents = 0 };
      if (j->wait_ms > 0 && poll(&p, 1, j->wait_ms) == 1 && p.revents == POLLOUT) continue;
      break;
    }
    if (total == 0) j->err = errno;
    break;
  }
  j->sent = total;
}

static void *worker(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&mu);
    while (!head) pthread_cond_wait(&cv, &mu);
    job_t *j = head;
    head = j->next;
    if (!head) tail = NULL;
    pthread_mutex_unlock(&mu);
    run(j);
    napi_call_threadsafe_function(done_fn, j, napi_tsfn_blocking);
  }
  return NULL;
}

/* one thread watches every full socket (poll on all of them, woken by a pipe for new ones) */
static void *waiter(void *arg) {
  (void)arg;
  struct pollfd *fds = NULL;
  job_t **who = NULL;
  size_t cap = 0;
  for (;;) {
    pthread_mutex_lock(&wmu);
    size_t n = 1;
    for (job_t *w = waits; w; w = w->next) n++;
    if (n > cap) {
      cap = n * 2;
      fds = realloc(fds, cap * sizeof *fds);
      who = realloc(who, cap * sizeof *who);
    }
    int64_t now = now_ms(), next = -1;
    fds[0] = (struct pollfd){ .fd = wake[0], .events = POLLIN, .revents = 0 };
    size_t i = 1;
    for (job_t *w = waits; w; w = w->next, i++) {
      fds[i] = (struct pollfd){ .fd = w->out_fd, .events = POLLOUT, .revents = 0 };
      who[i] = w;
      int64_t left = w->deadline - now;
      if (left < 0) left = 0;
      if (next < 0 || left < next) next = left;
    }
    pthread_mutex_unlock(&wmu);
    poll(fds, n, next < 0 ? -1 : (int)next);
    if (fds[0].revents) {
      char drain[64];
      while (read(wake[0], drain, sizeof drain) > 0) {}
    }
    now = now_ms();
    /* only this thread removes waits, so the snapshot's pointers are still valid */
    for (i = 1; i < n; i++) {
      job_t *w = who[i];
      int ready = fds[i].revents != 0;
      if (!ready && w->deadline > now) continue;
      w->writable = ready;
      pthread_mutex_lock(&wmu);
      for (job_t **p = &waits; *p; p = &(*p)->next) {
        if (*p == w) { *p = w->next; break; }
      }
      pthread_mutex_unlock(&wmu);
      napi_call_threadsafe_function(done_fn, w, napi_tsfn_blocking);
    }
  }
  return NULL;
}

/* on the event loop: settle the job's promise */
static void settle(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  (void)context;
  job_t *j = data;
  if (env != NULL && j->kind == JOB_WAIT) {
    napi_value v;
    napi_get_boolean(env, j->writable, &v);
    napi_resolve_deferred(env, j->deferred, v);
  } else if (env != NULL) {
    if (j->err || (j->eof && j->sent == 0)) {
      napi_value msg, err, code;
      napi_create_string_utf8(env, j->err ? strerror(j->err) : "unexpected end of file", NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, NULL, msg, &err);
      napi_create_int32(env, j->err, &code);
      napi_set_named_property(env, err, "errno", code);
      napi_reject_deferred(env, j->deferred, err);
    } else {
      napi_value v;
      napi_create_int64(env, j->sent, &v);
      napi_resolve_deferred(env, j->deferred, v);
    }
  }
  free(j);
}

static int start(napi_env env) {
  napi_value name;
  napi_create_string_utf8(env, "aptgate.sendfile", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, settle, &done_fn) != napi_ok) return 0;
  /* pending transfers do not keep the process alive on their own */
  napi_unref_threadsafe_function(env, done_fn);
  for (int i = 0; i < THREADS; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) return 0;
    pthread_detach(t);
  }
  if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) return 0;
  pthread_t t;
  if (pthread_create(&t, NULL, waiter, NULL) != 0) return 0;
  pthread_detach(t);
  return 1;
}

/* sendfile(outFd, inFd, offset, count, waitMs): Promise<number of bytes sent>; fewer than
   count means the (non-blocking) socket stayed full for waitMs. */
static napi_value Sendfile(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5], promise;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 5) { napi_throw_type_error(env, NULL, "sendfile(outFd, inFd, offset, count, waitMs)"); return NULL; }
  job_t *j = calloc(1, sizeof(job_t));
  if (!j) { napi_throw_error(env, NULL, "sendfile: out of memory"); return NULL; }
  int32_t out_fd, in_fd;
  if (napi_get_value_int32(env, args[0], &out_fd) != napi_ok || napi_get_value_int32(env, args[1], &in_fd) != napi_ok ||
      napi_get_value_int64(env, args[2], &j->offset) != napi_ok || napi_get_value_int64(env, args[3], &j->count) != napi_ok ||
      napi_get_value_int32(env, args[4], &j->wait_ms) != napi_ok) {
    free(j);
    napi_throw_type_error(env, NULL, "sendfile: integer arguments expected");
    return NULL;
  }
  if (!started) {
    if (!start(env)) { free(j); napi_throw_error(env, NULL, "sendfile: cannot start threads"); return NULL; }
    started = 1;
  }
  j->kind = JOB_SEND;
  j->out_fd = out_fd;
  j->in_fd = in_fd;
  napi_create_promise(env, &j->deferred, &promise);
  pthread_mutex_lock(&mu);
  if (tail) tail->next = j; else head = j;
  tail = j;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
  return promise;
}

/* writable(fd, timeoutMs): Promise<boolean>: true once the socket has room (or an error or
   hang-up is pending, which the next send reports), false after the timeout. */
static napi_value Writable(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2], promise;
  int32_t fd, timeout;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, args[0], &fd) != napi_ok || napi_get_value_int32(env, args[1], &timeout) != napi_ok) {
    napi_throw_type_error(env, NULL, "writable(fd, timeoutMs)");
    return NULL;
  }
  if (!started) {
    if (!start(env)) { napi_throw_error(env, NULL, "sendfile: cannot start threads"); return NULL; }
    started = 1;
  }
  job_t *w = calloc(1, sizeof(job_t));
  if (!w) { napi_throw_error(env, NULL, "writable: out of memory"); return NULL; }
  w->kind = JOB_WAIT;
  w->out_fd = fd;
  w->deadline = now_ms() + timeout;
  napi_create_promise(env, &w->deferred, &promise);
  pthread_mutex_lock(&wmu);
  w->next = waits;
  waits = w;
  pthread_mutex_unlock(&wmu);
  if (write(wake[1], "w", 1) < 0) { /* the pipe is full: the waiter is awake anyway */ }
  return promise;
}

/* cork(fd, on): TCP_CORK, so a transfer goes out in full segments and its end is pushed at once */
static napi_value Cork(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  int32_t fd;
  bool on;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, args[0], &fd) != napi_ok || napi_get_value_bool(env, args[1], &on) != napi_ok) {
    napi_throw_type_error(env, NULL, "cork(fd, on)");
    return NULL;
  }
  int v = on ? 1 : 0;
  setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof v);
  return NULL;
}

/* dup(fd) / close(fd): a transfer works on its own descriptor of the client socket, so a
   connection Node closes meanwhile can never hand its number to another client's socket
   while a send or a wait still refers to it */
static napi_value Dup(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, v;
  int32_t fd;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, arg, &fd) != napi_ok) { napi_throw_type_error(env, NULL, "dup(fd)"); return NULL; }
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) { napi_throw_error(env, NULL, strerror(errno)); return NULL; }
  napi_create_int32(env, copy, &v);
  return v;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  int32_t fd;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, arg, &fd) != napi_ok) { napi_throw_type_error(env, NULL, "close(fd)"); return NULL; }
  close(fd);
  return NULL;
}

/* trim(): give freed heap memory back to the system (glibc keeps it otherwise) */
static napi_value Trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_get_boolean(env, malloc_trim(0) == 1, &v);
  return v;
}

NAPI_MODULE_INIT() {
  napi_value fn, cork, writable;
  napi_create_function(env, "cork", NAPI_AUTO_LENGTH, Cork, NULL, &cork);
  napi_set_named_property(env, exports, "cork", cork);
  napi_create_function(env, "writable", NAPI_AUTO_LENGTH, Writable, NULL, &writable);
  napi_value trim, dup, cls;
  napi_create_function(env, "trim", NAPI_AUTO_LENGTH, Trim, NULL, &trim);
  napi_set_named_property(env, exports, "trim", trim);
  napi_create_function(env, "dup", NAPI_AUTO_LENGTH, Dup, NULL, &dup);
  napi_set_named_property(env, exports, "dup", dup);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, Close, NULL, &cls);
  napi_set_named_property(env, exports, "close", cls);
  napi_set_named_property(env, exports, "writable", writable);
  napi_create_function(env, "sendfile", NAPI_AUTO_LENGTH, Sendfile, NULL, &fn);
  napi_set_named_property(env, exports, "sendfile", fn);
  return exports;
}

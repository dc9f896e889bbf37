/* aptgate's zero-copy path for cached files: sendfile(2) from a cache file into a client
   socket, run on the libuv thread pool so neither disk reads nor copies block the event loop.
   Built by node-gyp at `npm install` (binding.gyp); the server falls back to a JavaScript
   read/write loop when it is missing. */
#define NAPI_VERSION 8
#include <node_api.h>
#include <sys/sendfile.h>
#include <errno.h>
#include <string.h>
#include <stdlib.h>

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int out_fd;
  int in_fd;
  int64_t offset;
  int64_t count;
  int64_t sent;
  int eof;
  int err;
} job_t;

static void execute(napi_env env, void *data) {
  (void)env;
  job_t *j = data;
  off_t off = (off_t)j->offset;
  int64_t total = 0;
  while (total < j->count) {
    ssize_t n = sendfile(j->out_fd, j->in_fd, &off, (size_t)(j->count - total));
    if (n > 0) { total += n; continue; }
    if (n == 0) { j->eof = 1; break; }
    if (errno == EINTR) continue;
    /* socket full: return what was sent; the event loop waits for room, not this thread */
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (total == 0) j->err = errno;
    break;
  }
  j->sent = total;
}

static void complete(napi_env env, napi_status status, void *data) {
  (void)status;
  job_t *j = data;
  if (j->err || (j->eof && j->sent == 0)) {
    napi_value msg, err, code;
    const char *text = j->err ? strerror(j->err) : "unexpected end of file";
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_create_int32(env, j->err, &code);
    napi_set_named_property(env, err, "errno", code);
    napi_reject_deferred(env, j->deferred, err);
  } else {
    napi_value v;
    napi_create_int64(env, j->sent, &v);
    napi_resolve_deferred(env, j->deferred, v);
  }
  napi_delete_async_work(env, j->work);
  free(j);
}

/* sendfile(outFd, inFd, offset, count): Promise<number of bytes sent>; fewer than count
   means the (non-blocking) socket is full. Runs on the libuv thread pool. */
static napi_value Sendfile(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4], promise, name;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 4) { napi_throw_type_error(env, NULL, "sendfile(outFd, inFd, offset, count)"); return NULL; }
  job_t *j = calloc(1, sizeof(job_t));
  if (!j) { napi_throw_error(env, NULL, "sendfile: out of memory"); return NULL; }
  int32_t out_fd, in_fd;
  if (napi_get_value_int32(env, args[0], &out_fd) != napi_ok || napi_get_value_int32(env, args[1], &in_fd) != napi_ok ||
      napi_get_value_int64(env, args[2], &j->offset) != napi_ok || napi_get_value_int64(env, args[3], &j->count) != napi_ok) {
    free(j);
    napi_throw_type_error(env, NULL, "sendfile: integer arguments expected");
    return NULL;
  }
  j->out_fd = out_fd;
  j->in_fd = in_fd;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "aptgate.sendfile", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

NAPI_MODULE_INIT() {

  napi_value fn;
  napi_create_function(env, "sendfile", NAPI_AUTO_LENGTH, Sendfile, NULL, &fn);
  napi_set_named_property(env, exports, "sendfile", fn);
  return exports;
}

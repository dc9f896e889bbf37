{
  "targets": [
    {
      "target_name": "aptgate_native",
      "sources": ["native/sendfile.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}

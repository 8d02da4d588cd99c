-- Stop all writes to the app (spec.suspend). Under GitOps this differs from Git: see README.md.
obj.spec.suspend = true
return obj

-- Allow writes to the app again (spec.suspend: false).
obj.spec.suspend = false
return obj

package tokenstore

// FilePath is the file that holds key's token in f, for tests that plant or
// inspect a record on disk.
func FilePath(f *File, key string) string { return f.path(key) }

// FileDir is f's directory.
func FileDir(f *File) string { return f.dir }

package tokenstore

// PlantMemory puts raw bytes in m as key's record, as another build or a
// damaged disk could leave them, for the conformance suite's Plant hook.
func PlantMemory(m *Memory, key string, raw []byte) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	m.s.data[key] = append([]byte(nil), raw...)
}

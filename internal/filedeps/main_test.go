package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCyclesOfFindsOnlyFilesThatReachEachOther(t *testing.T) {
	edges := [][2]string{{"a.go", "b.go"}, {"b.go", "c.go"}, {"c.go", "a.go"}, {"c.go", "d.go"}, {"e.go", "d.go"}}
	assert.Equal(t, [][]string{{"a.go", "b.go", "c.go"}}, cyclesOf(edges))
	assert.Empty(t, cyclesOf([][2]string{{"a.go", "b.go"}, {"b.go", "c.go"}}), "a chain is one way")
}

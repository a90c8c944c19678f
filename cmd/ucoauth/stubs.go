package main

import "errors"

func runStatus(*env, []string) error { return errors.New("not built yet") }

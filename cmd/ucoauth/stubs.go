package main

import "errors"

func runToken(*env, []string) error   { return errors.New("not built yet") }
func runStatus(*env, []string) error  { return errors.New("not built yet") }
func runRefresh(*env, []string) error { return errors.New("not built yet") }
func runRevoke(*env, []string) error  { return errors.New("not built yet") }

// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package repo checks the repository's own files: that every source file
// carries the licence header. It has no code of its own, only the test.
package repo

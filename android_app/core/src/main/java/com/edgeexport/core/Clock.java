package com.edgeexport.core;

/** A monotonic nanosecond clock; injectable so the benchmark loop can be tested deterministically. */
public interface Clock {
  long nanoTime();

  Clock SYSTEM =
      new Clock() {
        @Override
        public long nanoTime() {
          return System.nanoTime();
        }
      };
}

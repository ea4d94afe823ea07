package com.edgeexport.core.tools;

import com.edgeexport.core.Clock;

/** A clock that only moves when told to: makes timings in tests and contract runs exact. */
public final class FakeClock implements Clock {
  private long now;

  public FakeClock(long startNanos) {
    this.now = startNanos;
  }

  @Override
  public long nanoTime() {
    return now;
  }

  public void advance(long nanos) {
    if (nanos < 0) throw new IllegalArgumentException("time does not go backwards");
    now += nanos;
  }
}

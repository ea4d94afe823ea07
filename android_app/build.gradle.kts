// Top-level build file. Versions of the runtimes live in gradle.properties.
plugins {
    id("com.android.application") version "8.7.3" apply false
}

plugins {
    id("com.android.application")
}

val executorchVersion: String = providers.gradleProperty("executorchVersion").get()
val litertVersion: String = providers.gradleProperty("litertVersion").get()

android {
    namespace = "com.edgeexport.bench"
    compileSdk = 35

    defaultConfig {
        applicationId = "com.edgeexport.bench"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk {
            abiFilters += "arm64-v8a"
        }
        buildConfigField("String", "EXECUTORCH_VERSION", "\"$executorchVersion\"")
        buildConfigField("String", "LITERT_VERSION", "\"$litertVersion\"")
    }

    buildFeatures {
        buildConfig = true
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_11
        targetCompatibility = JavaVersion.VERSION_11
    }

    buildTypes {
        debug {
            isMinifyEnabled = false
        }
        release {
            // Runtimes are reached through JNI and reflection (ETDump): keep shrinking off.
            isMinifyEnabled = false
        }
    }

    packaging {
        jniLibs {
            // mmap'd models and native libs straight from the APK
            useLegacyPackaging = false
            // both runtime AARs may carry the NDK's shared C++ runtime
            pickFirsts += "**/libc++_shared.so"
        }
    }

    androidResources {
        // artifacts bundled under assets/models/ must stay uncompressed to be copied quickly
        noCompress += listOf("pte", "tflite")
    }
}

dependencies {
    implementation(project(":core"))
    implementation("org.pytorch:executorch-android:$executorchVersion")
    implementation("com.google.ai.edge.litert:litert:$litertVersion")
}

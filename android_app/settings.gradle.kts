// edge-export Android sample app: ExecuTorch (.pte) and LiteRT (.tflite) artifacts on a phone.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "EdgeExportBench"
include(":core", ":app")

/*
 * edge-export QNN HTP compatibility shim (EXPERIMENTAL).
 *
 * Why: ExecuTorch 1.5.1 is compiled against QNN 2.37 headers. The only QNN host libraries that can be
 * installed here come from the onnxruntime-qnn wheel and are QAIRT 2.4x/2.5x. Between the two, the HTP
 * device custom config changed its binary layout:
 *
 *   QNN <= 2.4x-early (what ExecuTorch writes):      QNN >= 2.4x-late (what libQnnHtp.so reads):
 *     struct { uint32_t option;                        struct { uint32_t option;  // 4 bytes padding
 *              union { uint32_t socModel; ... }; }              union { uint32_t socModel; ...;
 *     -> union (8 bytes, 4-aligned) at offset 4                    void* htpExtension; }; }
 *                                                       -> union (8-aligned) at offset 8
 *
 * so the backend reads the SoC id from the wrong place ("unknown custom config socModel 0", device
 * creation fails with error 14001).
 *
 * What: this library is installed under the name libQnnHtp.so. It dlopens the real library (path from
 * $EDGE_EXPORT_QNN_HTP_REAL, else libQnnHtp.real.so next to this file), forwards
 * QnnInterface_getProviders, checks that the provider looks like the QNN API we expect (core API major
 * 2, build id "v2.<minor>..."), and hands out copies of the provider structs whose deviceCreate /
 * deviceSetConfig entries are wrappers that rewrite every HTP device custom config from the old layout
 * into the new one before calling the real function. Nothing else is touched.
 *
 * All declarations below are minimal, written from the public QNN API documentation; the QNN headers
 * are not needed to build this file:   gcc -O2 -shared -fPIC -Wl,-z,nodelete -o libQnnHtp.so this.c -ldl
 * -z nodelete matters: the backend library can be loaded twice in one process and unloading this shim
 * (and with it the real library) under a live QNN backend crashes.
 *
 * Environment:
 *   EDGE_EXPORT_QNN_HTP_REAL         path of the real libQnnHtp.so (default: libQnnHtp.real.so beside us)
 *   EDGE_EXPORT_QNN_SHIM_VERBOSE=1   log what the shim does to stderr
 *   EDGE_EXPORT_QNN_SHIM_DISABLE=1   forward everything unchanged (for diagnosing the shim itself)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- minimal QNN ABI declarations (x86_64 LP64) ------------------------------------------------ */
typedef uint64_t Qnn_ErrorHandle_t;
typedef void* Qnn_LogHandle_t;
typedef void* Qnn_DeviceHandle_t;

#define QNN_SUCCESS 0
#define QNN_COMMON_ERROR_NOT_SUPPORTED 1000
#define QNN_COMMON_ERROR_MEM_ALLOC 1002
#define QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES 1008

typedef struct {
  uint32_t major, minor, patch;
} ShimQnnVersion;

/* QnnInterface_t: {uint32 backendId; const char* providerName; Qnn_ApiVersion_t apiVersion (2 x 3 u32);
 * union { function table }}. The function table is append-only within API major 2, so the slot
 * indices below are the same in 2.37 (caller) and 2.51 (library). */
typedef struct {
  uint32_t backendId;
  const char* providerName;
  ShimQnnVersion coreApiVersion;
  ShimQnnVersion backendApiVersion;
  void* table[]; /* function pointers */
} ShimQnnInterface;

enum {
  SLOT_BACKEND_GET_BUILD_ID = 4, /* propertyHasCapability, backendCreate, backendSetConfig,
                                    backendGetApiVersion, backendGetBuildId */
  SLOT_DEVICE_CREATE = 40,       /* ... deviceGetPlatformInfo 37, deviceFreePlatformInfo 38,
                                    deviceGetInfrastructure 39, deviceCreate 40, */
  SLOT_DEVICE_SET_CONFIG = 41,   /* deviceSetConfig 41, deviceGetInfo 42, deviceFree 43 */
  SLOT_LAST_CHECKED = 43
};

/* QnnDevice_Config_t: {QnnDevice_ConfigOption_t option; union {void* customConfig; void* hardwareInfo;}} */
typedef struct {
  uint32_t option;
  void* customConfig;
} ShimDeviceConfig;
#define QNN_DEVICE_CONFIG_OPTION_CUSTOM 0

/* QnnHtpDevice_CustomConfig_t, old layout: 4-byte option, 8-byte union of 32-bit members at offset 4 */
typedef struct {
  uint32_t option;
  unsigned char payload[8];
} OldHtpDeviceCustomConfig;

/* New layout: the union gained a pointer member, so it is 8-aligned at offset 8. */
typedef struct {
  uint32_t option;
  uint32_t padding;
  union {
    unsigned char payload[8];
    void* htpExtension;
  } u;
} NewHtpDeviceCustomConfig;

typedef Qnn_ErrorHandle_t (*GetProvidersFn)(const ShimQnnInterface*** list, uint32_t* n);
typedef Qnn_ErrorHandle_t (*GetBuildIdFn)(const char** id);
typedef Qnn_ErrorHandle_t (*DeviceCreateFn)(Qnn_LogHandle_t, const ShimDeviceConfig**, Qnn_DeviceHandle_t*);
typedef Qnn_ErrorHandle_t (*DeviceSetConfigFn)(Qnn_DeviceHandle_t, const ShimDeviceConfig**);

/* ---- state -------------------------------------------------------------------------------------- */
#define MAX_PROVIDERS 8
#define COPY_MAX_BYTES 4096 /* header (40 bytes) + up to 507 table slots; 2.51 has 75 */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static Qnn_ErrorHandle_t g_init_status = QNN_COMMON_ERROR_NOT_SUPPORTED;
static void* g_real = NULL;
static const ShimQnnInterface* g_patched[MAX_PROVIDERS];
static uint32_t g_num = 0;
static DeviceCreateFn g_real_create[MAX_PROVIDERS];
static DeviceSetConfigFn g_real_set_config[MAX_PROVIDERS];
static int g_verbose = 0;

#define SHIM_LOG(...)                                      \
  do {                                                     \
    if (g_verbose) {                                       \
      fprintf(stderr, "[edge-export qnn shim] " __VA_ARGS__); \
      fputc('\n', stderr);                                 \
    }                                                      \
  } while (0)
#define SHIM_ERR(...)                                      \
  do {                                                     \
    fprintf(stderr, "[edge-export qnn shim] ERROR: " __VA_ARGS__); \
    fputc('\n', stderr);                                   \
  } while (0)

static int env_flag(const char* name) {
  const char* v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

/* Bytes readable from p onwards within its /proc/self/maps mapping (0 if unknown). */
static size_t readable_bytes_from(const void* p) {
  FILE* f = fopen("/proc/self/maps", "r");
  if (!f) return 0;
  uintptr_t addr = (uintptr_t)p;
  size_t result = 0;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char perms[8] = {0};
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3) continue;
    if (addr >= lo && addr < hi) {
      if (perms[0] == 'r') result = (size_t)(hi - addr);
      break;
    }
  }
  fclose(f);
  return result;
}

/* ---- the config rewrite ------------------------------------------------------------------------- */
/* Returns a NULL-terminated copy of `configs` with HTP custom configs in the new layout, or NULL on
 * allocation failure. The copies are deliberately never freed: the backend may keep pointers to the
 * configs it was given, and a process creates only a handful of devices. */
static const ShimDeviceConfig** convert_configs(const ShimDeviceConfig** configs) {
  size_t n = 0;
  while (configs[n]) n++;
  const ShimDeviceConfig** out = calloc(n + 1, sizeof *out);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    const ShimDeviceConfig* c = configs[i];
    if (c->option != QNN_DEVICE_CONFIG_OPTION_CUSTOM || c->customConfig == NULL) {
      out[i] = c; /* platform info etc.: unchanged */
      continue;
    }
    const OldHtpDeviceCustomConfig* old = (const OldHtpDeviceCustomConfig*)c->customConfig;
    NewHtpDeviceCustomConfig* nc = calloc(1, sizeof *nc);
    ShimDeviceConfig* dc = calloc(1, sizeof *dc);
    if (!nc || !dc) {
      free(nc);
      free(dc);
      free(out);
      return NULL;
    }
    nc->option = old->option;
    memcpy(nc->u.payload, old->payload, sizeof old->payload);
    dc->option = c->option;
    dc->customConfig = nc;
    out[i] = dc;
    uint32_t first_word;
    memcpy(&first_word, old->payload, sizeof first_word);
    SHIM_LOG("device custom config #%zu: option %u, first payload word %u moved from offset 4 to 8", i,
             old->option, first_word);
  }
  out[n] = NULL;
  return out;
}

#define DEFINE_WRAPPERS(K)                                                                            \
  static Qnn_ErrorHandle_t device_create_##K(Qnn_LogHandle_t logger, const ShimDeviceConfig** cfg,   \
                                              Qnn_DeviceHandle_t* device) {                           \
    if (!cfg) return g_real_create[K](logger, cfg, device);                                          \
    const ShimDeviceConfig** conv = convert_configs(cfg);                                            \
    if (!conv) return QNN_COMMON_ERROR_MEM_ALLOC;                                                     \
    return g_real_create[K](logger, conv, device);                                                   \
  }                                                                                                   \
  static Qnn_ErrorHandle_t device_set_config_##K(Qnn_DeviceHandle_t device,                          \
                                                  const ShimDeviceConfig** cfg) {                     \
    if (!cfg) return g_real_set_config[K](device, cfg);                                              \
    const ShimDeviceConfig** conv = convert_configs(cfg);                                            \
    if (!conv) return QNN_COMMON_ERROR_MEM_ALLOC;                                                     \
    return g_real_set_config[K](device, conv);                                                       \
  }
DEFINE_WRAPPERS(0)
DEFINE_WRAPPERS(1)
DEFINE_WRAPPERS(2)
DEFINE_WRAPPERS(3)
DEFINE_WRAPPERS(4)
DEFINE_WRAPPERS(5)
DEFINE_WRAPPERS(6)
DEFINE_WRAPPERS(7)
static const DeviceCreateFn k_create_wrappers[MAX_PROVIDERS] = {
    device_create_0, device_create_1, device_create_2, device_create_3,
    device_create_4, device_create_5, device_create_6, device_create_7};
static const DeviceSetConfigFn k_set_config_wrappers[MAX_PROVIDERS] = {
    device_set_config_0, device_set_config_1, device_set_config_2, device_set_config_3,
    device_set_config_4, device_set_config_5, device_set_config_6, device_set_config_7};

/* ---- initialisation ----------------------------------------------------------------------------- */
static const char* real_library_path(char* buf, size_t size) {
  const char* env = getenv("EDGE_EXPORT_QNN_HTP_REAL");
  if (env && *env) return env;
  Dl_info self;
  if (!dladdr((void*)&real_library_path, &self) || !self.dli_fname) return NULL;
  const char* slash = strrchr(self.dli_fname, '/');
  size_t dir_len = slash ? (size_t)(slash - self.dli_fname) : 0;
  if (dir_len == 0) {
    snprintf(buf, size, "libQnnHtp.real.so");
  } else {
    snprintf(buf, size, "%.*s/libQnnHtp.real.so", (int)dir_len, self.dli_fname);
  }
  return buf;
}

/* Is f a non-NULL function pointer inside the real library? */
static int in_real_library(void* f, const void* real_base) {
  Dl_info info;
  return f && dladdr(f, &info) && info.dli_fbase == real_base;
}

static void init_once(void) {
  g_verbose = env_flag("EDGE_EXPORT_QNN_SHIM_VERBOSE");
  char buf[4096];
  const char* path = real_library_path(buf, sizeof buf);
  if (!path) {
    SHIM_ERR("cannot work out where the real libQnnHtp.so is; set EDGE_EXPORT_QNN_HTP_REAL");
    return;
  }
  g_real = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!g_real) {
    SHIM_ERR("cannot load the real HTP library %s: %s", path, dlerror());
    return;
  }
  GetProvidersFn real_get = (GetProvidersFn)dlsym(g_real, "QnnInterface_getProviders");
  if (!real_get) {
    SHIM_ERR("%s has no QnnInterface_getProviders", path);
    return;
  }
  Dl_info real_info;
  if (!dladdr((void*)real_get, &real_info)) {
    SHIM_ERR("cannot locate %s in memory", path);
    return;
  }

  const ShimQnnInterface** list = NULL;
  uint32_t n = 0;
  Qnn_ErrorHandle_t rc = real_get(&list, &n);
  if (rc != QNN_SUCCESS || !list || n == 0) {
    g_init_status = rc != QNN_SUCCESS ? rc : QNN_COMMON_ERROR_NOT_SUPPORTED;
    SHIM_ERR("QnnInterface_getProviders of %s failed (%lu, %u providers)", path, (unsigned long)rc, n);
    return;
  }
  if (n > MAX_PROVIDERS) n = MAX_PROVIDERS;
  int disabled = env_flag("EDGE_EXPORT_QNN_SHIM_DISABLE");

  for (uint32_t k = 0; k < n; k++) {
    const ShimQnnInterface* p = list[k];
    /* Layout checks: API major 2 and every slot up to deviceFree inside the real library. */
    if (p->coreApiVersion.major != 2) {
      SHIM_ERR("provider %u has core API %u.%u, expected 2.x: refusing an unknown layout", k,
               p->coreApiVersion.major, p->coreApiVersion.minor);
      g_init_status = QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES;
      return;
    }
    for (int s = 0; s <= SLOT_LAST_CHECKED; s++) {
      if (p->table[s] && !in_real_library(p->table[s], real_info.dli_fbase)) {
        SHIM_ERR("provider %u slot %d does not point into %s: refusing an unknown layout", k, s, path);
        g_init_status = QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES;
        return;
      }
    }
    if (!p->table[SLOT_BACKEND_GET_BUILD_ID] || !p->table[SLOT_DEVICE_CREATE]) {
      SHIM_ERR("provider %u lacks backendGetBuildId/deviceCreate: refusing an unknown layout", k);
      g_init_status = QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES;
      return;
    }
    const char* build_id = NULL;
    ((GetBuildIdFn)p->table[SLOT_BACKEND_GET_BUILD_ID])(&build_id);
    unsigned minor = 0;
    if (!build_id || sscanf(build_id, "v2.%u.", &minor) != 1) {
      SHIM_ERR("provider %u build id \"%s\" does not look like v2.<minor>: refusing an unknown layout", k,
               build_id ? build_id : "(null)");
      g_init_status = QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES;
      return;
    }

    size_t bytes = readable_bytes_from(p);
    size_t need = sizeof(ShimQnnInterface) + (SLOT_LAST_CHECKED + 1) * sizeof(void*);
    if (bytes < need) {
      SHIM_ERR("cannot read provider %u's interface table", k);
      g_init_status = QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES;
      return;
    }
    if (bytes > COPY_MAX_BYTES) bytes = COPY_MAX_BYTES;
    /* The copy may include bytes past the end of the real struct (unknown size); callers compiled
     * with older headers only read the slots they know, which the real table has too. */
    ShimQnnInterface* copy = malloc(COPY_MAX_BYTES);
    if (!copy) {
      g_init_status = QNN_COMMON_ERROR_MEM_ALLOC;
      return;
    }
    memset(copy, 0, COPY_MAX_BYTES);
    memcpy(copy, p, bytes);
    g_real_create[k] = (DeviceCreateFn)p->table[SLOT_DEVICE_CREATE];
    g_real_set_config[k] = (DeviceSetConfigFn)p->table[SLOT_DEVICE_SET_CONFIG];
    if (!disabled) {
      copy->table[SLOT_DEVICE_CREATE] = (void*)k_create_wrappers[k];
      if (g_real_set_config[k]) copy->table[SLOT_DEVICE_SET_CONFIG] = (void*)k_set_config_wrappers[k];
    }
    g_patched[k] = copy;
    SHIM_LOG("provider %u: %s, core API %u.%u.%u, build %s, device config rewrite %s", k,
             p->providerName ? p->providerName : "(unnamed)", p->coreApiVersion.major,
             p->coreApiVersion.minor, p->coreApiVersion.patch, build_id, disabled ? "DISABLED" : "on");
  }
  g_num = n;
  g_init_status = QNN_SUCCESS;
}

__attribute__((visibility("default"))) Qnn_ErrorHandle_t QnnInterface_getProviders(
    const ShimQnnInterface*** providerList, uint32_t* numProviders) {
  if (!providerList || !numProviders) return 1004; /* QNN_COMMON_ERROR_INVALID_ARGUMENT */
  pthread_once(&g_once, init_once);
  if (g_init_status != QNN_SUCCESS) return g_init_status;
  *providerList = g_patched;
  *numProviders = g_num;
  return QNN_SUCCESS;
}

/* For tests and diagnostics: 1 if this library is the edge-export shim. */
__attribute__((visibility("default"))) int EdgeExportQnnShim_isShim(void) { return 1; }

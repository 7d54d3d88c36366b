/*
 * make bench-engine's baseline: what a plain libcurl loop reaches against an HTTP server.
 *
 * One easy handle, reused, so the connection is kept alive: COUNT POSTs of a SIZE-byte body to
 * URL, one after the other, exactly as a program that does nothing but POST would. Prints one
 * JSON line: {"requests": N, "failures": F, "seconds": S, "rate": R}. Exit status 1 when any
 * request failed or was answered outside 2xx.
 *
 * Build: cc -O2 -o curl-loop curl-loop.c $(pkg-config --cflags --libs libcurl)
 * Usage: curl-loop URL COUNT [SIZE]
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t discard(char *data, size_t size, size_t count, void *user) {
    (void)data; (void)user;
    return size * count;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s URL COUNT [SIZE]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    long count = strtol(argv[2], NULL, 10);
    long size = argc > 3 ? strtol(argv[3], NULL, 10) : 64;
    if (count < 1 || size < 0 || size > (1 << 20)) {
        fprintf(stderr, "curl-loop: COUNT must be at least 1 and SIZE 0 to 1 MB\n");
        return 2;
    }
    char *body = malloc((size_t)size + 1);
    memset(body, '.', (size_t)size);
    body[size] = 0;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/octet-stream");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, size);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);

    long failures = 0;
    double start = now_seconds();
    for (long i = 0; i < count; i++) {
        long status = 0;
        if (curl_easy_perform(curl) != CURLE_OK) { failures++; continue; }
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299) failures++;
    }
    double seconds = now_seconds() - start;
    printf("{\"requests\": %ld, \"failures\": %ld, \"seconds\": %.3f, \"rate\": %.0f}\n",
           count, failures, seconds, (double)count / seconds);

    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    free(body);
    return failures == 0 ? 0 : 1;
}

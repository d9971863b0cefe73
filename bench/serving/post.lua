-- wrk: POST one Qwak-style feature vector per request
wrk.method = "POST"
wrk.body = '[{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}]'
wrk.headers["Content-Type"] = "application/json"

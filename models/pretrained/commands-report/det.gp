set terminal pngcairo size 900,640 noenhanced font ',10'
set output 'det.png'
set title 'DET: false rejects vs false alarms per hour (478 positives, 0.299 h of negatives)'
set xlabel 'false alarms per hour'
set ylabel 'false reject rate (%)'
set grid
set key top right
set yrange [0:100]
set xrange [0:*]
plot 'det.tsv' using 2:3 with steps lw 2 title 'DET', '-' using 1:2 with points pt 7 ps 1.5 title 'threshold 0.999 at 1 FA/h (FRR 77.2%)'
0.000000 77.1967
e
